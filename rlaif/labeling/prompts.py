"""Prompt templates (``prompts/<name>.yaml`` + text files) and their rendering into chat messages.

A rendered comparison is a list of chat messages ``[{"role": ..., "content": ...}]``: the
constitution preamble as the system turn, optional few-shot exemplars as earlier user/assistant
turns, then the comparison itself. Backends apply their own chat template to these messages.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Callable

import yaml
from pydantic import BaseModel, Field, ValidationError

from rlaif.core.errors import RlaifError
from rlaif.labeling.assets import resource_dir

PAIR_FIELDS = {"principle", "context", "response_1", "response_2"}
Messages = list[dict[str, str]]


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


def _placeholders(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def _check_placeholders(text: str, path: Path) -> None:
    try:
        found = _placeholders(text)
    except ValueError as e:
        raise RlaifError(f"{path}: bad placeholder syntax ({e}); write literal braces as {{{{ }}}}") from None
    if found != PAIR_FIELDS:
        missing, extra = PAIR_FIELDS - found, found - PAIR_FIELDS
        raise RlaifError(f"{path}: placeholders must be exactly {sorted(PAIR_FIELDS)}"
                         f" (missing {sorted(missing)}, unknown {sorted(extra)})")


def available() -> list[str]:
    return sorted(p.stem for p in resource_dir("prompts").glob("*.yaml") if p.stem != "exemplars")


def load_template(name_or_path: str) -> PairwiseTemplate:
    """Load and validate a pairwise template by name (from ``prompts/``) or by YAML path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = resource_dir("prompts") / f"{name_or_path}.yaml"
        if not path.exists():
            raise RlaifError(f"unknown template '{name_or_path}' (available: {', '.join(available())})")
    if not path.exists():
        raise RlaifError(f"{path}: no such template file")
    try:
        cfg: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise RlaifError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None

    def read(key: str) -> str | None:
        if not cfg.get(key):
            return None
        f = path.parent / cfg[key]
        if not f.exists():
            raise RlaifError(f"{path} field '{key}': file {f} not found")
        return f.read_text(encoding="utf-8")

    data = {k: cfg.get(k) for k in ("name", "version", "cot_answer") if cfg.get(k) is not None}
    if "labels" in cfg:
        data["labels"] = cfg["labels"]
    data["template"] = read("template_file")
    if data["template"] is None:
        raise RlaifError(f"{path}: field 'template_file' is required")
    _check_placeholders(data["template"], path)
    data["cot_template"] = read("cot_template_file")
    if data["cot_template"] is not None:
        _check_placeholders(data["cot_template"], path)
        if not cfg.get("cot_answer"):
            raise RlaifError(f"{path}: field 'cot_answer' is required with cot_template_file")
    ex_text = read("exemplars_file")
    data["exemplars"] = yaml.safe_load(ex_text) if ex_text else {}
    try:
        tpl = PairwiseTemplate.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise RlaifError(f"{path}: field '{'.'.join(str(x) for x in err['loc'])}': {err['msg']}") from None
    if len(set(tpl.labels)) != 2:
        raise RlaifError(f"{path}: field 'labels' must be two different tokens")
    return tpl
