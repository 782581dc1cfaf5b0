"""The settings of the labeler and the scorer as pydantic models, apart from the code that uses them, so that
the command line, recipes and the service can read them (defaults, help) without importing torch."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rlaif.judges.thinking import Reasoning
from rlaif.labeling.sampled import SampledLabels


class LabelerConfig(BaseModel):
    """Every setting that changes a label (all of it goes into ``config_hash``)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt setting is an error, not a default

    constitution: str = Field("harmless", description="Constitution name in constitutions/ or a YAML path.")
    template: str = Field("pairwise", description="Prompt template name in prompts/ or a YAML path.")
    principles: str = Field("sample", description="'sample' (one seeded principle per pair), 'all' "
                            "(ensemble: average over principles) or a principle name.")
    ensemble_k: int | None = Field(None, ge=1, description="With principles='all': use k seeded principles per pair.")
    seed: int = Field(0, description="Seed for principle sampling (combined with each row id).")
    cot: bool = Field(False, description="Generate a rationale first (greedy), then score the label tokens.")
    cot_max_tokens: int = Field(128, ge=1, le=4096, description="Maximum rationale length in tokens.")
    shots: int = Field(0, ge=0, description="Number of few-shot exemplars from the template's exemplars file.")
    max_prompt_tokens: int | None = Field(None, ge=64, description="Cap on prompt tokens (default: the "
                                          "judge's context minus room for the answer); longer contexts are cut from the left.")
    method: Literal["logprob", "parse", "sample"] = Field("logprob", description="'logprob': soft label from the label-token "
                                                          "log-probs; 'parse': baseline that generates an answer and parses 1/2 from it "
                                                          "(hard labels); 'sample': Jeffreys soft label from sampled answers (``sampling``).")
    sampling: SampledLabels | None = Field(None, description="method='sample': how many answers, temperature, "
                                           "'auto' stopping (default settings when method='sample' and this is unset).")
    reasoning: Reasoning | None = Field(None, description="A judge that thinks before its answer: the format, "
                                        "token budget and effort of its reasoning (the label is read after it).")
    orders: Literal["both", "ab"] = Field("both", description="'both' averages the two presentation orders "
                                          "(removes position bias); 'ab' is one order only, for studying the bias.")

    @model_validator(mode="after")
    def _sampling_needs_sample(self) -> "LabelerConfig":
        if self.method == "sample" and self.sampling is None:
            self.sampling = SampledLabels()
        elif self.method != "sample" and self.sampling is not None:
            raise ValueError("sampling settings need method='sample'")
        return self

    @model_validator(mode="after")
    def _reasoning_fits(self) -> "LabelerConfig":
        r = self.reasoning
        if r is None:
            return self
        if self.cot:
            raise ValueError("reasoning and cot both make the judge think first; use one")
        if self.method == "parse":
            raise ValueError("reasoning reads the label with method='logprob' or 'sample', not 'parse'")
        if r.format == "openai" and self.method != "sample":
            raise ValueError("reasoning format 'openai' (the server reasons and gives no log-probs after it) "
                             "needs method='sample'")
        return self


class ScorerConfig(BaseModel):
    """Every setting that changes a score (all of it goes into ``config_hash``)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt setting is an error, not a default

    constitution: str = Field("helpful", description="Constitution whose principles are the rating criteria.")
    template: str = Field("score", description="Rating template name in prompts/ or a YAML path.")
    max_prompt_tokens: int | None = Field(None, ge=64, description="Cut longer contexts from the left.")
