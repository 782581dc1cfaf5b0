"""Candidates from a policy (``rlaif generate``): n sampled responses per prompt through any judge
backend used as a policy, with the settings fingerprinted like labels (``config_hash``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rlaif.core.schema import INVALID_INPUT, candidate_record
from rlaif.judges.base import JudgeBackend
from rlaif.labeling.provenance import fingerprint
from rlaif.judges.sampling import Sampling


class GeneratorConfig(BaseModel):
    """Every setting that changes the candidates (all of it goes into ``config_hash``)."""

    model_config = ConfigDict(extra="forbid")

    sampling: Sampling = Field(default_factory=Sampling, description="n, temperature, top-p, length, seed.")
    system: str | None = Field(None, description="System message put before every prompt's conversation.")
    keep_responses: bool = Field(False, description="Keep the responses an input row already has (a pair's two, "
                                 "a candidate row's) before the sampled ones, with who wrote each in 'sources' "
                                 "(the row's source names, else 'dataset'; the policy id for the sampled ones).")


def generate_hash(cfg: GeneratorConfig, policy_id: str) -> str:
    """Fingerprint of every setting that changes the candidates."""
    dumped = cfg.model_dump(exclude=None if cfg.keep_responses else {"keep_responses"})  # hashes as before it
    return fingerprint({"cfg": dumped, "policy": policy_id})


def sampled_by(policy_id: str, cfg: GeneratorConfig, config_hash: str) -> dict[str, Any]:
    """The provenance of a candidate row: the policy, its sampling settings, config_hash."""
    return {"policy": policy_id, "sampling": cfg.sampling.model_dump(), "config_hash": config_hash}


def invalid_candidate(provenance: dict[str, Any], rid: str, message: str) -> dict[str, Any]:
    """The candidate record of an input row that could not be used."""
    return candidate_record({"id": rid, "prompt": "", "messages": []}, provenance, error=INVALID_INPUT + message)


class Generator:
    """Samples ``config.sampling.n`` responses per prompt record from ``policy``."""

    def __init__(self, policy: JudgeBackend, config: GeneratorConfig | None = None):
        self.policy = policy
        self.cfg = config or GeneratorConfig()
        self.config_hash = generate_hash(self.cfg, policy.judge_id)

    @property
    def provenance(self) -> dict[str, Any]:
        return sampled_by(self.policy.judge_id, self.cfg, self.config_hash)

    def conversation(self, record: dict[str, Any]) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.cfg.system}] if self.cfg.system else []
        return system + [m for m in record["messages"] if not (system and m["role"] == "system")]

    def generate(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One candidate record per prompt record, in order; its ``messages`` are the conversation the
        policy was given (the ``system`` message included)."""
        convs = [self.conversation(r) for r in records]
        replies = self.policy.sample(convs, self.cfg.sampling)
        return [candidate_record({**r, "messages": c}, self.provenance, **self.responses(r, list(resp)))
                for r, c, resp in zip(records, convs, replies)]

    def responses(self, record: dict[str, Any], sampled: list[str]) -> dict[str, Any]:
        """A candidate row's ``responses``; with ``keep_responses``, the record's kept ones first, ``sources``, and
        the humans' label of the kept pair."""
        if not self.cfg.keep_responses:
            return {"responses": sampled}
        label = record.get("kept_label")
        return {"responses": list(record["kept_responses"]) + sampled,
                "sources": list(record["kept_sources"]) + [self.policy.judge_id] * len(sampled),
                **({"kept_label": label} if label is not None else {})}

    def invalid_record(self, rid: str, message: str) -> dict[str, Any]:
        return invalid_candidate(self.provenance, rid, message)
