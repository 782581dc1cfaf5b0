"""Pairwise labeler: constitution + template + judge -> soft label P(response_a preferred)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from rlaif.evaluation.calibration import Calibration
from rlaif.evaluation.calibration import apply as apply_calibration
from rlaif.labeling.constitutions import Constitution, Principle, load_constitution
from rlaif.core.errors import RlaifError
from rlaif.judges.base import JudgeBackend, Messages
from rlaif.core.prefs import consistency, debiased_preference, label_probability
from rlaif.core.records import settle
from rlaif.core.schema import INVALID_INPUT, label_record
from rlaif.labeling.answers import read_label
from rlaif.labeling.provenance import fingerprint, judged_by
from rlaif.labeling.prompts import PairwiseTemplate, cut_left, load_template
from rlaif.labeling.reasoning import ReasoningJudge
from rlaif.labeling.sampled import SampledLabels, sample_slot1
from rlaif.labeling.settings import LabelerConfig


def label_hash(cfg: LabelerConfig, judge_id: str, constitution: Constitution, template: PairwiseTemplate,
               calibration: Calibration | None, panel: Sequence[tuple[Calibration | None, float]] = ()) -> str:
    """Fingerprint of every setting that changes a label (labels never mix settings). ``panel``: a panel's
    (calibration, weight) per member, in the order of the members in ``judge_id`` (the panel's id); a single
    judge has none and hashes as it always did."""
    # a setting added later hashes only when set, so outputs made before it keep their hash
    dumped = cfg.model_dump(exclude={k for k in ("sampling", "reasoning") if getattr(cfg, k) is None})
    blob = {"cfg": dumped, "judge": judge_id, "constitution": constitution.model_dump(),
            "template": template.model_dump(), "calibration": calibration.model_dump() if calibration else None}
    if panel:
        blob["panel"] = [{"calibration": c.model_dump() if c else None, "weight": w} for c, w in panel]
    return fingerprint(blob)


def check_settings(cfg: LabelerConfig, constitution: Constitution, template: PairwiseTemplate) -> None:
    """Refuse settings that do not fit the loaded constitution and template (before any model loads)."""
    if cfg.principles not in ("sample", "all"):
        constitution.principle(cfg.principles)  # validates the name now
    if cfg.cot and not template.cot_template:
        raise RlaifError(f"template '{template.name}' has no chain-of-thought text; --cot is unavailable")


def invalid_label(provenance: dict[str, str], rid: str, message: str) -> dict[str, Any]:
    """The label record of an input row that could not be used (see ``schema.is_invalid_input``)."""
    empty = {"id": rid, "prompt": "", "response_a": "", "response_b": "", "human_label": None}
    return label_record(empty, provenance, error=INVALID_INPUT + message)


class Labeler:
    """Labels pair records (see ``rlaif.core.schema``) with soft preferences.

    ``label(records)`` returns label records. Rows that cannot be labelled get ``p_a = NaN`` and an
    ``error`` reason; they never get a made-up 0.5.
    """

    def __init__(self, judge: JudgeBackend, config: LabelerConfig | None = None,
                 calibration: Calibration | None = None):
        self.judge = judge
        self.calibration = calibration
        self.cfg = config or LabelerConfig()
        self.constitution = load_constitution(self.cfg.constitution)
        self.template = load_template(self.cfg.template)
        check_settings(self.cfg, self.constitution, self.template)
        self.exemplars = self.template.exemplars_for(self.constitution.name, self.cfg.shots)
        self.config_hash = label_hash(self.cfg, judge.judge_id, self.constitution, self.template, calibration)

    def _budget(self) -> int | None:
        limit = self.judge.context_length
        reserve = 16 + (self.cfg.cot_max_tokens + 64 if self.cfg.cot else 0)
        reserve += self.cfg.reasoning.budget + 32 if self.cfg.reasoning else 0
        budget = limit - reserve if limit else None
        if self.cfg.max_prompt_tokens:
            budget = min(budget, self.cfg.max_prompt_tokens) if budget else self.cfg.max_prompt_tokens
        return budget

    def _messages(self, principle: Principle, context: str, r1: str, r2: str) -> Messages:
        return self.template.render(preamble=self.constitution.preamble, principle=principle.text,
                                    context=context, response_1=r1, response_2=r2,
                                    exemplars=self.exemplars, cot=self.cfg.cot)

    def _fit_context(self, rec: dict[str, Any], principles: list[Principle]) -> tuple[str, bool]:
        """The record's context, cut from the left if the longest prompt exceeds the token budget."""
        budget = self._budget()
        if budget is None:
            return rec["prompt"], False
        longest = max(principles, key=lambda p: len(p.text))
        fitted = cut_left(rec["prompt"], lambda ctx: self.judge.count_tokens(
            self._messages(longest, ctx, rec["response_a"], rec["response_b"])) + 4 <= budget)
        if fitted is None:
            raise ValueError(f"the responses alone exceed the judge's prompt budget of {budget} tokens")
        return fitted

    def _soft(self, judge: JudgeBackend, prompts: list[Messages]) -> list[tuple[float, str | None]]:
        """P(slot 1 preferred) from the label-token log-probs, renormalised over the two labels."""
        labels = self.template.labels
        out = []
        for res in judge.label_logprobs(prompts, list(labels)):
            lp = res.logprobs
            if labels[0] in lp and labels[1] in lp:
                out.append((label_probability(float(lp[labels[0]]), float(lp[labels[1]])), None))
            else:
                missing = [x for x in labels if x not in lp]
                out.append((math.nan, f"label token(s) {missing} not returned by the judge "
                                      f"({res.missing_reason or 'no reason given'})"))
        return out

    def _parsed(self, prompts: list[Messages]) -> list[tuple[float, str | None]]:
        """Baseline: generate a short answer and read the first label in it (1.0, 0.0, or NaN)."""
        out = []
        for text in self.judge.generate(prompts, 8):
            slot = read_label(text, self.template.labels)
            out.append((1.0 - slot, None) if slot is not None else (math.nan, f"no label in generated answer {text[:40]!r}"))
        return out

    @property
    def provenance(self) -> dict[str, str]:
        return judged_by(self.judge.judge_id, self.constitution, self.template, self.config_hash)

    def invalid_record(self, rid: str, message: str) -> dict[str, Any]:
        return invalid_label(self.provenance, rid, message)

    def label(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Label pair records; returns one label record per input record, in order."""
        out, jobs = self._plan(records)
        if not jobs:
            return out
        prompts = [m for *_, m in jobs]
        if self.cfg.cot:
            rationales = self.judge.generate(prompts, self.cfg.cot_max_tokens)
            prompts = [self.template.cot_followup(m, r) for m, r in zip(prompts, rationales)]
            for (ri, *_), r in zip(jobs, rationales):
                out[ri]["rationales"] = (out[ri]["rationales"] or []) + [r]
        extra: dict[int, dict[str, Any]] = {}
        pairs = [ri for ri, *_ in jobs]
        judge = ReasoningJudge(self.judge, self.cfg.reasoning, prompts) if self.cfg.reasoning else self.judge
        if self.cfg.method == "sample":
            slot1, extra = sample_slot1(judge, prompts, self.template.labels, self.cfg.sampling, pairs,
                                        [order for _, _, order, _ in jobs])
        else:
            slot1 = self._parsed(prompts) if self.cfg.method == "parse" else self._soft(judge, prompts)
        if isinstance(judge, ReasoningJudge):
            for ri, fields in judge.fields(pairs).items():
                extra.setdefault(ri, {}).update(fields)
        probs: dict[int, dict[str, list[float]]] = {}  # record index -> order -> P(slot 1) per principle
        for (ri, _, order, _), (p, reason) in zip(jobs, slot1):
            if reason:
                out[ri]["error"] = out[ri]["error"] or reason
            probs.setdefault(ri, {}).setdefault(order, []).append(p)
        for ri, by_order in probs.items():
            self._combine(out[ri], by_order)
            out[ri].update(extra.get(ri, {}))
        return [settle(r) for r in out]  # NaN from the arithmetic -> None

    def _plan(self, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[int, int, str, Messages]]]:
        """A blank label record per pair, and the prompts to ask: (record index, principle index, order, messages)."""
        orders = ("ab", "ba") if self.cfg.orders == "both" else ("ab",)
        out: list[dict[str, Any]] = []
        jobs: list[tuple[int, int, str, Messages]] = []
        for ri, rec in enumerate(records):
            principles = self.constitution.select(self.cfg.principles, rec["id"], self.cfg.seed, self.cfg.ensemble_k)
            row = label_record(rec, self.provenance, principles=[p.name for p in principles])
            out.append(row)
            if rec["response_a"].strip() == rec["response_b"].strip():
                row["error"] = "identical responses: nothing to prefer"
                continue
            try:
                context, row["truncated"] = self._fit_context(rec, principles)
            except ValueError as e:
                row["error"] = str(e)
                continue
            a, b = rec["response_a"], rec["response_b"]
            for pi, p in enumerate(principles):
                for order in orders:
                    r1, r2 = (a, b) if order == "ab" else (b, a)
                    jobs.append((ri, pi, order, self._messages(p, context, r1, r2)))
        return out, jobs

    def _combine(self, row: dict[str, Any], by_order: dict[str, list[float]]) -> None:
        """Fill a label record from P(slot 1) per order and principle: debias, agree, calibrate."""
        p_ab = torch.tensor(by_order["ab"], dtype=torch.float64)
        if "ba" in by_order:
            p_ba = torch.tensor(by_order["ba"], dtype=torch.float64)
            per = debiased_preference(p_ab, p_ba)
            second = float((1 - p_ba).mean())
            row["consistent"] = consistency(float(p_ab.mean()), second)
        else:
            per, second = p_ab, math.nan
        row["p_a_principles"] = [float(x) for x in per]
        row["p_a_first"] = float(p_ab.mean())
        row["p_a_second"] = second
        row["p_a"] = float(per.mean())
        if self.calibration is not None:
            row["p_a_raw"] = row["p_a"]
            row["p_a"] = float(apply_calibration(torch.tensor(row["p_a"], dtype=torch.float64),
                                                 self.calibration.temperature, self.calibration.bias))
        if math.isnan(row["p_a"]) and not row["error"]:
            row["error"] = "judge returned no usable probability"
