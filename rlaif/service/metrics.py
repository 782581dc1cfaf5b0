"""Prometheus metrics of one service (its own registry): requests and latency by route template (a
bounded set of labels), batch sizes, queue depth, rows labelled or scored, judge tokens."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from rlaif.jobs.kinds import JobKind

UNMATCHED = "unmatched"


class Metrics:
    def __init__(self, service: Any):
        self.registry = r = CollectorRegistry()
        self.requests = Counter("rlaif_requests", "HTTP requests", ["route", "status"], registry=r)
        self.latency = Histogram("rlaif_request_seconds", "HTTP request latency", ["route"], registry=r,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.rows_total = Counter("rlaif_rows", "rows labelled, scored or generated", ["kind", "result"], registry=r)
        depth = Gauge("rlaif_queue_depth", "items waiting for the judge", registry=r)
        depth.set_function(service.batcher.depth)
        batches = Gauge("rlaif_batches", "judge calls made by the batcher", registry=r)
        batches.set_function(lambda: service.batcher.batches)
        mean = Gauge("rlaif_batch_items_mean", "mean items per judge call (last 1000 calls)", registry=r)
        mean.set_function(lambda: _mean(service.batcher.batch_items))
        for field in ("prompt_tokens", "completion_tokens", "requests"):
            g = Gauge(f"rlaif_judge_{field}", f"judge {field.replace('_', ' ')} since start", registry=r)
            g.set_function(lambda f=field: getattr(service.judge.usage, f))

    def request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def rows(self, kind: JobKind, records: list[dict[str, Any]]) -> None:
        for rec in records:
            v = rec.get(kind.value_field)
            ok = v is not None
            self.rows_total.labels(kind.name, "ok" if ok else "unlabelled").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def route_label(scope: dict[str, Any]) -> str:
    """A request's route as a metric label: the template it matched (``/v1/jobs/{job_id}``), or
    "unmatched"; never the raw path, so random paths and job ids cannot grow the series."""
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


def _mean(xs: list[int]) -> float:
    return sum(xs) / len(xs) if xs else 0.0
