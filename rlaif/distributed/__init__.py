"""Scale-out on Ray Data: label, score and generate for datasets with a pool of judge actors (``pip install 'rlaif[ray]'``).

The names below are imported on first use, so reading ``rlaif.distributed.spec`` (the CLI's flags) imports
neither Ray nor the judges."""

import importlib

_HOME = {"label_dataset": "datasets", "score_dataset": "datasets", "generate_dataset": "datasets", "start_ray": "datasets", "run_ray_job": "engine",
         "read_dir": "shards", "RayOptions": "spec"}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'rlaif.distributed' has no attribute '{name}'")
    return getattr(importlib.import_module(f"rlaif.distributed.{_HOME[name]}"), name)
