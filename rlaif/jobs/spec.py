"""Typed job specs: what a whole job is asked to do, as pydantic models that the CLI, the HTTP service
and the Ray engine fill in the same way (and that serialise, so a job can be stored and resumed)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from rlaif.labeling.generator import GeneratorConfig
from rlaif.labeling.settings import LabelerConfig, ScorerConfig


# Rows per labeller call and durable write: a kill loses at most this many rows' work, and a prefix-caching judge
# shares prefixes within a call (32 rows label ~19% faster than 8 on the embedded judge: README *Throughput*).
DEFAULT_CHUNK_SIZE = 32


class RunOptions(BaseModel):
    """Where a job reads and writes, and how it runs."""

    input: str = Field(description="Input: .jsonl, .parquet, .csv or a saved Hugging Face dataset folder.")
    output: str = Field(description="Output .jsonl or .parquet (a folder of Parquet shards on the Ray engine); "
                        "re-running the same job resumes it.")
    limit: int | None = Field(None, ge=1, description="Process only the first N input rows.")
    split: str | None = Field(None, description="Split of a saved DatasetDict.")
    chunk_size: int = Field(DEFAULT_CHUNK_SIZE, ge=1, description="Rows per durable write (and per judge call).")
    skip_invalid: bool = Field(False, description="Write bad input rows with their reason and go on "
                               "(they are tried again on every run).")
    repair: bool = Field(False, description="Move unreadable lines and repeated ids of an existing output to "
                         "OUTPUT.rejected.jsonl instead of stopping.")
    progress: bool = Field(True, description="Show a progress bar.")


class JudgeSpec(BaseModel):
    """Which judge, by spec string, with the backend's own options (checked by the judge registry)."""

    spec: str | None = Field(None, description="Judge spec (see 'rlaif judges'); None: the embedded judge.")
    options: dict[str, Any] = Field(default_factory=dict, description="Backend options, e.g. base_url for openai.")


class PanelMember(JudgeSpec):
    """One judge of a panel: its spec and options, and how its soft label enters the panel's."""

    calibration: str | None = Field(None, description="Calibration JSON from 'rlaif calibrate', fitted on this "
                                    "judge's own labels, applied to its p_a before the panel combines them.")
    weight: float = Field(1.0, gt=0, description="Weight of this judge's log-odds in the panel's mean.")


class LabelJob(BaseModel):
    """Label every pair of a file with soft preferences."""

    run: RunOptions
    judge: JudgeSpec = Field(default_factory=JudgeSpec, description="The judge.")
    panel: list[PanelMember] = Field(default_factory=list, description="A panel of two or more judges in place "
                                     "of ``judge``: each labels every pair, p_a is their weighted mean log-odds.")
    labeler: LabelerConfig = Field(default_factory=LabelerConfig, description="Labeler settings.")
    calibration: str | None = Field(None, description="Calibration JSON from 'rlaif calibrate' to apply to p_a.")
    pairs: str | None = Field(None, description="Candidate rows ('rlaif generate'): which pairs to label, "
                              "all | adjacent | random:K.")
    pair_seed: int = Field(0, description="Seed of --pairs random:K.")

    @model_validator(mode="after")
    def _panel_replaces_judge(self) -> "LabelJob":
        if not self.panel:
            return self
        if len(self.panel) < 2:
            raise ValueError("panel: a panel has two or more judges (one judge is --judge)")
        if self.judge != JudgeSpec():
            raise ValueError("panel: give the judges as the panel's members, not also as judge")
        if self.calibration:
            raise ValueError("calibration: with a panel, each member has its own calibration (panel[i].calibration)")
        return self


class ScoreJob(BaseModel):
    """Rate every (prompt, response) of a file 1-10 (direct RLAIF)."""

    run: RunOptions
    judge: JudgeSpec = Field(default_factory=JudgeSpec, description="The judge.")
    scorer: ScorerConfig = Field(default_factory=ScorerConfig, description="Scorer settings.")


class GenerateJob(BaseModel):
    """Sample n responses per prompt of a file from a policy (candidates for labelling and ranking)."""

    run: RunOptions
    policy: JudgeSpec = Field(default_factory=JudgeSpec, description="The policy (any judge spec).")
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig, description="Sampling settings.")
