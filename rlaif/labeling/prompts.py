"""Prompt templates (``prompts/<name>.yaml`` + text files): pairwise comparison and 1-10 rating, and
their rendering into chat messages.

A rendered comparison is a list of chat messages ``[{"role": ..., "content": ...}]``: the
constitution preamble as the system turn, optional few-shot exemplars as earlier user/assistant
turns, then the comparison itself. Backends apply their own chat template to these messages.
"""

from __future__ import annotations

from typing import Callable

import yaml
from pydantic import BaseModel, Field

from rlaif.core.errors import RlaifError
from rlaif.core.text import Messages, strip_special_tokens
from rlaif.labeling import assets

PAIRWISE_PLACEHOLDERS = frozenset({"principle", "context", "response_1", "response_2"})
SCORE_PLACEHOLDERS = frozenset({"criteria", "context", "response"})


class Exemplar(BaseModel):
    context: str = Field(min_length=1, description="Conversation shown to the judge.")
    response_1: str = Field(min_length=1, description="Response in slot 1.")
    response_2: str = Field(min_length=1, description="Response in slot 2.")
    preferred: int = Field(ge=1, le=2, description="Slot of the better response.")
    rationale: str = Field("", description="Reasoning shown in chain-of-thought exemplars.")


class PairwiseTemplate(BaseModel):
    name: str = Field(description="Template name.")
    version: str = Field(description="Recorded in every label row; bump it when the wording changes.")
    template: str = Field(description="Comparison text with {principle} {context} {response_1} {response_2}.")
    labels: tuple[str, str] = Field(("1", "2"), description="Answer tokens for slot 1 and slot 2.")
    cot_template: str | None = Field(None, description="Text asking for reasoning first (CoT mode).")
    cot_answer: str | None = Field(None, description="Follow-up turn asking for the label after the reasoning.")
    exemplars: dict[str, list[Exemplar]] = Field(default_factory=dict,
                                                 description="Few-shot exemplars keyed by constitution.")

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def exemplars_for(self, constitution: str, k: int) -> list[Exemplar]:
        pool = self.exemplars.get(constitution) or self.exemplars.get("default") or []
        if k > len(pool):
            raise RlaifError(f"template '{self.name}' has {len(pool)} exemplars for '{constitution}', "
                             f"--shots {k} asked for more")
        return pool[:k]

    def _fill(self, text: str, principle: str, context: str, r1: str, r2: str) -> str:
        """The comparison text; the conversation's control-token text removed (it must not act in the judge's turn)."""
        context, r1, r2 = map(strip_special_tokens, (context, r1, r2))
        return text.format(principle=principle, context=context, response_1=r1, response_2=r2)

    def render(self, *, preamble: str, principle: str, context: str, response_1: str, response_2: str,
               exemplars: list[Exemplar] = (), cot: bool = False) -> Messages:
        """Messages asking the judge to compare ``response_1`` and ``response_2``.

        Without CoT the final user turn asks for the label directly; exemplars answer with their
        label. With CoT the final turn asks for reasoning (``cot_template``) and exemplars answer
        with rationale; the caller generates the rationale and then calls ``cot_followup``.
        """
        if cot and not self.cot_template:
            raise RlaifError(f"template '{self.name}' has no cot_template_file; it cannot run --cot")
        body = self.cot_template if cot else self.template
        msgs: Messages = [{"role": "system", "content": preamble}]
        for ex in exemplars:
            msgs.append({"role": "user", "content": self._fill(body, principle, ex.context, ex.response_1, ex.response_2)})
            label = self.labels[ex.preferred - 1]
            if cot:
                msgs.append({"role": "assistant", "content": ex.rationale})
                msgs.append({"role": "user", "content": self.cot_answer})
            msgs.append({"role": "assistant", "content": label})
        msgs.append({"role": "user", "content": self._fill(body, principle, context, response_1, response_2)})
        return msgs

    def cot_followup(self, messages: Messages, rationale: str) -> Messages:
        """Append the generated rationale and the request for the final label."""
        return messages + [{"role": "assistant", "content": rationale.strip()},
                           {"role": "user", "content": self.cot_answer}]


TRUNCATION_MARK = "[...] "


def cut_left(context: str, fits: Callable[[str], bool]) -> tuple[str, bool] | None:
    """The longest suffix of ``context`` (marked with TRUNCATION_MARK when cut) for which ``fits`` holds.

    Returns (context, truncated), or None when even the bare mark does not fit. Bisection on
    characters: O(log n) calls of ``fits`` (each typically one tokenisation).
    """
    if fits(context):
        return context, False
    if not fits(TRUNCATION_MARK):
        return None
    lo, hi = 0, len(context)
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(TRUNCATION_MARK + context[mid:]):
            hi = mid
        else:
            lo = mid + 1
    return TRUNCATION_MARK + context[lo:], True


def available() -> list[str]:
    return assets.available("prompts", exclude=("exemplars",))


def load_template(name_or_path: str) -> PairwiseTemplate:
    """Load and validate a pairwise template by name (from ``prompts/``) or by YAML path."""
    path = assets.find("prompts", name_or_path, "template", exclude=("exemplars",))
    cfg = assets.read_yaml(path)
    data = {k: cfg[k] for k in ("name", "version", "cot_answer", "labels") if cfg.get(k) is not None}
    data["template"] = assets.read_text_file(path, cfg, "template_file")
    if data["template"] is None:
        raise RlaifError(f"{path}: field 'template_file' is required")
    assets.check_placeholders(data["template"], path, PAIRWISE_PLACEHOLDERS)
    data["cot_template"] = assets.read_text_file(path, cfg, "cot_template_file")
    if data["cot_template"] is not None:
        assets.check_placeholders(data["cot_template"], path, PAIRWISE_PLACEHOLDERS)
        if not cfg.get("cot_answer"):
            raise RlaifError(f"{path}: field 'cot_answer' is required with cot_template_file")
    ex_text = assets.read_text_file(path, cfg, "exemplars_file")
    data["exemplars"] = yaml.safe_load(ex_text) if ex_text else {}
    tpl = assets.validate(PairwiseTemplate, data, path)
    if len(set(tpl.labels)) != 2:
        raise RlaifError(f"{path}: field 'labels' must be two different tokens")
    return tpl


class ScoreTemplate(BaseModel):
    name: str = Field(description="Template name.")
    version: str = Field(description="Recorded in every score row; bump it when the wording changes.")
    template: str = Field(description="Rating text with {criteria} {context} {response}.")
    system: str | None = Field(None, description="System turn; default: the constitution's preamble.")

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def render(self, *, system: str, criteria: str, context: str, response: str) -> Messages:
        body = self.template.format(criteria=criteria, context=strip_special_tokens(context),
                                    response=strip_special_tokens(response))
        return [{"role": "system", "content": self.system or system}, {"role": "user", "content": body}]


def load_score_template(name_or_path: str) -> ScoreTemplate:
    """Load and validate a single-response rating template (direct RLAIF) by name or YAML path."""
    path = assets.find("prompts", name_or_path, "score template", exclude=("exemplars",))
    cfg = assets.read_yaml(path)
    data = {k: cfg[k] for k in ("name", "version", "system") if cfg.get(k) is not None}
    data["template"] = assets.read_text_file(path, cfg, "template_file")
    if data["template"] is None:
        raise RlaifError(f"{path}: field 'template_file' is required")
    assets.check_placeholders(data["template"], path, SCORE_PLACEHOLDERS)
    return assets.validate(ScoreTemplate, data, path)
