"""How a job runs on Ray: cluster address, workers and their resources, shard size."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RayOptions(BaseModel):
    """The Ray engine's settings (``rlaif label --engine ray``)."""

    address: str | None = Field(None, description="Ray cluster to join ('auto' or ray://HOST:PORT); None starts a "
                                "local Ray on this machine.")
    workers: int = Field(1, ge=1, description="Judge actors; each loads the judge once.")
    gpus_per_worker: float = Field(0, ge=0, description="GPUs per actor (a vllm judge uses them tensor parallel).")
    cpus_per_worker: float | None = Field(None, gt=0, description="CPUs per actor; default: with no GPUs, the "
                                          "cluster's CPUs split between the workers (also the llama.cpp threads).")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local Ray started by rlaif (default: all).")
    shard_rows: int = Field(512, ge=1, description="Rows per output shard; a killed driver re-labels at most "
                            "this many rows (plus the batches in flight) on resume.")
