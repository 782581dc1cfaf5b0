"""Library entry points: label, score or generate for a ``ray.data.Dataset`` with a fixed pool of judge actors, so that
rlaif composes with a user's own Ray pipeline (read with Ray's readers or ``from_huggingface``)."""

from __future__ import annotations

from typing import Any, Callable

from rlaif.core.errors import RlaifError
from rlaif.distributed.worker import JudgeWorker
from rlaif.jobs.kinds import GENERATE, LABEL, SCORE, JobKind, kind_of
from rlaif.jobs.spec import JudgeSpec, RunOptions
from rlaif.labeling.generator import GeneratorConfig
from rlaif.labeling.labeler import LabelerConfig
from rlaif.labeling.scorer import ScorerConfig

_LLAMACPP = ("embedded", "llamacpp:")


def start_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` ('auto' or ray://...), or start a local Ray; reuse one already
    started in this process."""
    try:
        import ray
    except ImportError:
        raise RlaifError("the Ray engine needs Ray: pip install 'rlaif[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                 logging_level="WARNING", configure_logging=True)


def worker_resources(judge: JudgeSpec, workers: int, gpus: float = 0,
                     cpus: float | None = None) -> tuple[JudgeSpec, float, float]:
    """(judge spec with its threads or GPUs filled in, CPUs each actor reserves, GPUs per actor).

    On CPU the cluster's cores are split between the actors and a llama.cpp judge gets as many threads;
    the actors reserve all but one of the cluster's CPUs between them, so that reading the input and
    Ray's own tasks can still be scheduled (actors holding every CPU would wait forever for their input).
    A vllm judge on G >= 2 GPUs runs tensor parallel over them. Options the user set are kept."""
    import ray

    spec, options = judge.spec or "embedded", dict(judge.options)
    total = float(ray.cluster_resources().get("CPU", 1))
    threads = cpus or (1.0 if gpus else max(1.0, float(int(total // workers))))
    reserve = cpus or (1.0 if gpus else max(0.1, min(threads, (total - 1) / workers)))
    if spec.startswith(_LLAMACPP) and "n_threads" not in options:
        options["n_threads"] = max(1, int(threads))
    if spec.startswith("vllm:") and gpus >= 2 and "tensor_parallel_size" not in options:
        options["tensor_parallel_size"] = int(gpus)
    return judge.model_copy(update={"options": options}), reserve, gpus


def tensor_parallel_args(spec: JudgeSpec, gpus: float) -> dict[str, Any]:
    """Ray resource arguments of one judge actor: ``num_gpus=G``; but a vllm judge over G >= 2 GPUs gets a
    placement group of G one-GPU bundles on one node instead, which its tensor-parallel workers join (the
    layout of vLLM's own Ray Data example, examples/offline_inference/distributed.py)."""
    tp = int(spec.options.get("tensor_parallel_size") or 1)
    if not (spec.spec or "").startswith("vllm:") or tp < 2:
        return {"num_gpus": gpus or None}

    def placement() -> dict[str, Any]:
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        group = ray.util.placement_group([{"GPU": 1, "CPU": 1}] * tp, strategy="STRICT_PACK")
        return {"scheduling_strategy": PlacementGroupSchedulingStrategy(group, placement_group_capture_child_tasks=True)}
    return {"num_gpus": 0, "ray_remote_args_fn": placement}


def map_judge(ds, job, *, workers: int = 1, gpus_per_worker: float = 0, cpus_per_worker: float | None = None,
              batch_size: int = 8, normalised: bool = False, judge_factory: Callable | None = None,
              fault: dict[str, Any] | None = None):
    """``ds.map_batches`` with ``workers`` JudgeWorker actors running the job spec ``job`` (of any kind); Ray
    restarts a dead actor and retries its batch (Ray Data's defaults for actors: max_restarts=-1,
    max_task_retries=-1)."""
    import ray.data

    kind = kind_of(job)
    judges = [worker_resources(j, workers, gpus_per_worker, cpus_per_worker) for j in kind.judges(job)]
    spec, cpus, gpus = judges[0]
    # a panel's actor holds every member and runs them one after another: each gets the actor's threads
    job = job.model_copy(update={kind.panel_field: [j for j, _, _ in judges]} if kind.panel(job)
                         else {kind.judge_field: spec})
    return ds.map_batches(JudgeWorker, batch_size=batch_size, batch_format="pyarrow",
                          compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus,
                          **tensor_parallel_args(spec, gpus),
                          fn_constructor_kwargs={"job": job.model_dump_json(), "kind": kind.name,
                                                 "normalised": normalised, "judge_factory": judge_factory,
                                                 "fault": fault})


def _judge(judge: str | JudgeSpec | Callable | None) -> tuple[JudgeSpec, Callable | None]:
    if callable(judge) and not isinstance(judge, JudgeSpec):
        return JudgeSpec(), judge
    return (judge if isinstance(judge, JudgeSpec) else JudgeSpec(spec=judge)), None


_NO_FILE = RunOptions(input="<ray dataset>", output="<ray dataset>")


def _on_dataset(kind: JobKind, ds, judge, settings, workers: int, gpus_per_worker: float,
                cpus_per_worker: float | None, batch_size: int, **extra: Any):
    spec, factory = _judge(judge)
    job = kind.spec(_NO_FILE, settings, spec, **extra)
    return map_judge(ds, job, workers=workers, gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker,
                     batch_size=batch_size, judge_factory=factory)


def label_dataset(ds, judge: str | JudgeSpec | Callable | None = None, config: LabelerConfig | None = None, *,
                  workers: int = 1, gpus_per_worker: float = 0, cpus_per_worker: float | None = None,
                  batch_size: int = 8, calibration: str | None = None):
    """Soft-label every pair of a ``ray.data.Dataset`` (rows in any shape ``rlaif label`` reads); returns a
    lazy Dataset of label records. ``judge``: a spec string, a JudgeSpec (spec + backend options), or a
    picklable callable returning a judge. Rows without an ``id`` get one from their content; a bad row
    becomes a record whose ``error`` names the field."""
    return _on_dataset(LABEL, ds, judge, config, workers, gpus_per_worker, cpus_per_worker, batch_size,
                       calibration=calibration)


def score_dataset(ds, judge: str | JudgeSpec | Callable | None = None, config: ScorerConfig | None = None, *,
                  workers: int = 1, gpus_per_worker: float = 0, cpus_per_worker: float | None = None,
                  batch_size: int = 8):
    """Rate every (prompt, response) row of a ``ray.data.Dataset`` 1-10 (direct RLAIF); returns a lazy
    Dataset of score records (``reward`` in [-1, 1]). Arguments as ``label_dataset``."""
    return _on_dataset(SCORE, ds, judge, config, workers, gpus_per_worker, cpus_per_worker, batch_size)


def generate_dataset(ds, policy: str | JudgeSpec | Callable | None = None, config: GeneratorConfig | None = None, *,
                     workers: int = 1, gpus_per_worker: float = 0, cpus_per_worker: float | None = None,
                     batch_size: int = 8):
    """Sample candidates for every prompt row of a ``ray.data.Dataset``; returns a lazy Dataset of candidate
    records. Arguments as ``label_dataset`` (``policy`` in place of the judge)."""
    return _on_dataset(GENERATE, ds, policy, config, workers, gpus_per_worker, cpus_per_worker, batch_size)
