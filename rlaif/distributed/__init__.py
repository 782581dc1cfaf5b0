"""Scale-out on Ray Data: label and score datasets with a pool of judge actors (``pip install 'rlaif[ray]'``)."""

from rlaif.distributed.datasets import label_dataset, score_dataset, start_ray
from rlaif.distributed.engine import run_ray_job
from rlaif.distributed.shards import read_dir
from rlaif.distributed.spec import RayOptions

__all__ = ["RayOptions", "label_dataset", "read_dir", "run_ray_job", "score_dataset", "start_ray"]
