"""Scale-out on Ray Data: label, score and generate for datasets with a pool of judge actors (``pip install 'rlaif[ray]'``)."""

from rlaif.distributed.datasets import generate_dataset, label_dataset, score_dataset, start_ray
from rlaif.distributed.engine import run_ray_job
from rlaif.distributed.shards import read_dir
from rlaif.distributed.spec import RayOptions

__all__ = ["RayOptions", "generate_dataset", "label_dataset", "read_dir", "run_ray_job", "score_dataset", "start_ray"]
