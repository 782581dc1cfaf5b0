"""Direct RLAIF: the judge rates a single response 1-10; the expected score becomes a reward.

RLAIF §2.2.2 (Lee et al. 2023): s(y|x) = Σ_{i=1..10} i · P(i | x, y), with P renormalised over the
ten scores, and the reward r = (s - 5.5) / 4.5, which maps [1, 10] linearly onto [-1, 1].

"10" may be one token or two ("1" then "0"). The score distribution is assembled from two
next-token queries per item (asked together, interleaved): the first token (P("1"), ..., P("9"), and P("10") where "10" is one token) and
the token after a "1" (P("0" | "1"), and P(any digit | "1")):
    P(score 10) = P("10") + P("1") · P("0" | "1")
    P(score 1)  = P("1") · (1 - Σ_d P(d | "1"))      (a "1" not followed by a digit)
Digits the backend did not return (e.g. outside a remote API's top-k) count as zero mass; a row
where no score token was seen gets ``None`` with a reason.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from rlaif.labeling.constitutions import Constitution, load_constitution
from rlaif.core.errors import RlaifError
from rlaif.judges.base import JudgeBackend, Messages
from rlaif.labeling.provenance import fingerprint, judged_by
from rlaif.labeling.prompts import ScoreTemplate, cut_left, load_score_template
from rlaif.core.records import ScoreRecord, blank
from rlaif.core.schema import INVALID_INPUT, score_record
from rlaif.labeling.settings import ScorerConfig

SCORES = torch.arange(1, 11, dtype=torch.float64)
FIRST = [str(i) for i in range(1, 10)]
DIGITS = [str(i) for i in range(10)]


def score_distribution(first: torch.Tensor, ten_token: torch.Tensor, after_one: torch.Tensor) -> torch.Tensor:
    """Unnormalised mass of each score 1..10 from next-token probabilities.

    ``first``: (n, 9) P("1")..P("9") as the first token; ``ten_token``: (n,) P("10") as one token
    (0 where the tokenizer has no such token); ``after_one``: (n, 10) P("0")..P("9") after "1".
    Returns (n, 10) masses for scores 1..10 (see the module docstring for the formulas).
    """
    p1 = first[:, 0]
    mass = torch.empty(first.shape[0], 10, dtype=first.dtype)
    mass[:, 0] = p1 * (1 - after_one.sum(-1)).clamp_min(0)
    mass[:, 1:9] = first[:, 1:]
    mass[:, 9] = ten_token + p1 * after_one[:, 0]
    return mass


def expected_score(logp: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Expected score under the score-token distribution renormalised over the valid scores.

    RLAIF §2.2.2: s(y|x) = Σ_i i · P(i | x, y). ``logp``: (..., K) log-probs of the K scores (any
    normalisation; NaN where unknown), ``scores``: (K,) score values.
    Returns (probs (..., K), expected (...,), entropy in nats (...,)).
    """
    probs = torch.softmax(logp, dim=-1)
    expected = (probs * scores).sum(-1)
    entropy = -(probs * torch.log(probs.clamp_min(1e-30))).sum(-1)
    return probs, expected, entropy


def reward_from_score(s: torch.Tensor) -> torch.Tensor:
    """r = (s - 5.5) / 4.5: score 1 -> -1, 10 -> +1. Shapes (...,) -> (...,)."""
    return (s - 5.5) / 4.5


def criteria(constitution: Constitution) -> str:
    """The rating criteria: the constitution's principles as a bullet list."""
    return "\n".join(f"- {p.text}" for p in constitution.principles)


def score_hash(cfg: ScorerConfig, judge_id: str, constitution: Constitution, template: ScoreTemplate) -> str:
    """Fingerprint of every setting that changes a score (same blob since the first release)."""
    return fingerprint([cfg.model_dump(), judge_id, template.tag, template.template, criteria(constitution)])


def invalid_score(provenance: dict[str, str], rid: str, message: str) -> dict[str, Any]:
    """The score record of an input row that could not be used (see ``schema.is_invalid_input``)."""
    return score_record({"id": rid, "prompt": "", "response": ""}, provenance, error=INVALID_INPUT + message)


class Scorer:
    """Rates (prompt, response) pairs; ``score`` returns one dict per item with the reward, and
    ``score_records`` turns single-response records into score records (``rlaif score``)."""

    def __init__(self, judge: JudgeBackend, config: ScorerConfig | None = None):
        self.judge = judge
        self.cfg = config or ScorerConfig()
        self.constitution = load_constitution(self.cfg.constitution)
        self.template = load_score_template(self.cfg.template)
        self.criteria = criteria(self.constitution)
        self._ten_single: bool | None = None
        self.config_hash = score_hash(self.cfg, judge.judge_id, self.constitution, self.template)

    @property
    def provenance(self) -> dict[str, str]:
        return judged_by(self.judge.judge_id, self.constitution, self.template, self.config_hash)

    def messages(self, prompt: str, response: str) -> Messages:
        return self.template.render(system=self.constitution.preamble, criteria=self.criteria, context=prompt,
                                    response=response)

    def invalid_record(self, rid: str, message: str) -> dict[str, Any]:
        return invalid_score(self.provenance, rid, message)

    def score_records(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Score records for single-response records (``id, prompt, response``), in order."""
        results = self.score([(r["prompt"], r["response"]) for r in rows])
        return [score_record(r, self.provenance, **x) for r, x in zip(rows, results)]

    def _fit(self, prompt: str, response: str) -> tuple[Messages, bool]:
        budget = self.cfg.max_prompt_tokens or (self.judge.context_length - 16 if self.judge.context_length else None)
        if budget is None:
            return self.messages(prompt, response), False
        fitted = cut_left(prompt, lambda ctx: self.judge.count_tokens(self.messages(ctx, response)) <= budget)
        if fitted is None:
            raise ValueError(f"the response alone exceeds the judge's prompt budget of {budget} tokens")
        return self.messages(fitted[0], response), fitted[1]

    def _query(self, prompts: list[Messages]):
        """First-token log-probs and the log-probs after a "1", asked in one call interleaved
        (p1, p1 + "1", p2, p2 + "1", ...): on engines that evaluate prompts one by one with KV-cache
        reuse, each item's second query then costs almost nothing. "10" is asked for when the judge
        has it as one token (a local backend raises RlaifError for a multi-token label before any
        work; remembered)."""
        both = [p for p in prompts for _ in (0, 1)]
        conts = ["", "1"] * len(prompts)
        if self._ten_single is not False:
            try:
                res = self.judge.label_logprobs(both, DIGITS + ["10"], continuations=conts)
                self._ten_single = True
                return res[0::2], res[1::2]
            except RlaifError:
                self._ten_single = False
        res = self.judge.label_logprobs(both, DIGITS, continuations=conts)
        return res[0::2], res[1::2]

    def score(self, items: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Score (prompt, response) pairs. Each result has score, reward, probs (10), entropy,
        truncated and error; score/reward are None (with error) when the judge gave no score token."""
        out: list[dict[str, Any]] = [blank(ScoreRecord) for _ in items]
        todo, prompts = [], []
        for i, (prompt, response) in enumerate(items):
            if not str(response).strip():
                out[i]["error"] = "empty response"
                continue
            try:
                msgs, out[i]["truncated"] = self._fit(prompt, response)
            except ValueError as e:
                out[i]["error"] = str(e)
                continue
            todo.append(i)
            prompts.append(msgs)
        if not todo:
            return out
        first, second = self._query(prompts)
        exp = lambda d, k: math.exp(d[k]) if k in d else 0.0  # noqa: E731
        f = torch.tensor([[exp(r.logprobs, k) for k in FIRST] for r in first], dtype=torch.float64)
        ten = torch.tensor([exp(r.logprobs, "10") for r in first], dtype=torch.float64)
        a1 = torch.tensor([[exp(r.logprobs, d) for d in DIGITS] for r in second], dtype=torch.float64)
        mass = score_distribution(f, ten, a1)
        total = mass.sum(-1)
        probs, s, h = expected_score(torch.log(mass), SCORES)
        r = reward_from_score(s)
        for j, i in enumerate(todo):
            if total[j] <= 0:
                out[i]["error"] = f"no score token returned by the judge ({first[j].missing_reason or 'zero mass'})"
                continue
            out[i].update(score=float(s[j]), reward=float(r[j]), probs=[float(x) for x in probs[j]],
                          entropy=float(h[j]))
        return out
