"""Candidates from a policy (``rlaif generate``): n sampled responses per prompt through any judge
backend used as a policy, with the settings fingerprinted like labels (``config_hash``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rlaif.core.schema import INVALID_INPUT, candidate_record
from rlaif.judges.base import JudgeBackend
from rlaif.judges.sampling import Sampling


class GeneratorConfig(BaseModel):
    """Every setting that changes the candidates (all of it goes into ``config_hash``)."""

    model_config = ConfigDict(extra="forbid")

    sampling: Sampling = Field(default_factory=Sampling, description="n, temperature, top-p, length, seed.")
    system: str | None = Field(None, description="System message put before every prompt's conversation.")


class Generator:
    """Samples ``config.sampling.n`` responses per prompt record from ``policy``."""

    def __init__(self, policy: JudgeBackend, config: GeneratorConfig | None = None):
        self.policy = policy
        self.cfg = config or GeneratorConfig()
        blob = json.dumps({"cfg": self.cfg.model_dump(), "policy": policy.judge_id}, sort_keys=True)
        self.config_hash = hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def provenance(self) -> dict[str, Any]:
        return {"policy": self.policy.judge_id, "sampling": self.cfg.sampling.model_dump(),
                "config_hash": self.config_hash}

    def conversation(self, record: dict[str, Any]) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.cfg.system}] if self.cfg.system else []
        return system + [m for m in record["messages"] if not (system and m["role"] == "system")]

    def generate(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One candidate record per prompt record, in order; its ``messages`` are the conversation the
        policy was given (the ``system`` message included)."""
        convs = [self.conversation(r) for r in records]
        replies = self.policy.sample(convs, self.cfg.sampling)
        return [candidate_record({**r, "messages": c}, self.provenance, responses=list(resp))
                for r, c, resp in zip(records, convs, replies)]

    def invalid_record(self, rid: str, message: str) -> dict[str, Any]:
        """The candidate record of an input row that could not be used."""
        return candidate_record({"id": rid, "prompt": "", "messages": []}, self.provenance,
                                error=INVALID_INPUT + message)
