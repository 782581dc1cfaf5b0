"""Sampled soft labels (``method='sample'``), for judges that give no log-probs: K sampled answers per
prompt are parsed (``answers.read_label``); P(slot 1) is the Jeffreys posterior mean (n1 + 1/2)/(n + 1)
over the n parsed answers, and each pair gets a 95% interval for p_a. ``samples='auto'`` draws in
rounds and stops a pair once its interval excludes 1/2 or is narrower than ``auto_width``.

The pair's interval: each prompt's P(slot 1) has the posterior Beta(n1 + 1/2, n2 + 1/2) (unparsed
answers are counted apart and carry no information); p_a is the mean over the pair's G prompts (its
two orders, times its principles) of P(slot 1) or 1 - P(slot 1), so its posterior mean is that mean
and, the prompts being sampled independently, its variance is Σ var_j / G². The interval is the
equal-tailed 95% interval of the Beta with that mean and variance (moment matching); with one prompt
(``orders='ab'``, one principle) it is exactly that prompt's Jeffreys interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from rlaif.core.exact import beta_quantile
from rlaif.judges.base import JudgeBackend, Messages
from rlaif.judges.sampling import Sampling
from rlaif.labeling.answers import read_label

ROUND_SEED = 1_000_003  # round r of 'auto' samples with seed + r * ROUND_SEED (round 0 = a fixed-K run's seed)
LEVEL = 0.95


class SampledLabels(BaseModel):
    """Settings of ``method='sample'`` (all of them go into the labeler's ``config_hash``)."""

    model_config = ConfigDict(extra="forbid")

    samples: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(32, description="Sampled answers per prompt, "
                                                                   "or 'auto': rounds of auto_step until the interval decides.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature (1: the judge's own distribution).")
    max_new_tokens: int = Field(8, ge=1, description="Longest sampled answer, in tokens (1: the answer token only).")
    seed: int = Field(0, description="Sampling seed (each prompt and sample derives its own).")
    auto_step: int = Field(8, ge=1, description="samples='auto': answers drawn per prompt per round.")
    auto_max: int = Field(64, ge=1, description="samples='auto': most answers per prompt.")
    auto_width: float = Field(0.2, gt=0, le=1, description="samples='auto': stop once the 95% interval of p_a is "
                              "narrower than this (or excludes 1/2).")


@dataclass
class Counts:
    """One prompt's sampled answers: how many named slot 1, slot 2, or neither (with an example)."""

    slot1: int = 0
    slot2: int = 0
    unparsed: int = 0
    example: str = ""

    def add(self, answers: Sequence[str], labels: tuple[str, str]) -> None:
        for text in answers:
            slot = read_label(text, labels)
            if slot is None:
                self.unparsed += 1
                self.example = self.example or text
            elif slot == 0:
                self.slot1 += 1
            else:
                self.slot2 += 1

    @property
    def parsed(self) -> int:
        return self.slot1 + self.slot2

    def posterior(self) -> tuple[float, float]:
        """Mean and variance of Beta(slot1 + 1/2, slot2 + 1/2); NaN without a parsed answer."""
        if not self.parsed:
            return math.nan, math.nan
        a, b = self.slot1 + 0.5, self.slot2 + 0.5
        return a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))


def pair_interval(counts: Sequence[Counts], swapped: Sequence[bool], level: float = LEVEL) -> tuple[float, float, float]:
    """(p_a, lo, hi) of one pair from its prompts' counts; ``swapped``: the prompt shows b in slot 1."""
    post = [c.posterior() for c in counts]
    if not post or any(math.isnan(m) for m, _ in post):
        return math.nan, math.nan, math.nan
    g = len(post)
    mean = sum(1 - m if s else m for (m, _), s in zip(post, swapped)) / g
    var = sum(v for _, v in post) / g ** 2
    nu = mean * (1 - mean) / var - 1
    a, b = mean * nu, (1 - mean) * nu
    tail = (1 - level) / 2
    return mean, beta_quantile(tail, a, b, 1e-9), beta_quantile(1 - tail, a, b, 1e-9)


def decided(lo: float, hi: float, width: float) -> bool:
    """Whether 'auto' may stop: the interval excludes 1/2 or is narrower than ``width``."""
    return lo > 0.5 or hi < 0.5 or hi - lo < width


def sample_slot1(judge: JudgeBackend, prompts: Sequence[Messages], labels: tuple[str, str], cfg: SampledLabels,
                 pairs: Sequence[int], orders: Sequence[str]) -> tuple[list[tuple[float, str | None]], dict[int, dict[str, Any]]]:
    """P(slot 1) per prompt (with the reason when NaN), and per pair (``pairs[j]``: prompt j's pair, ``orders[j]``:
    'ab' or 'ba') the record fields ``sample_counts`` ({order: [slot 1, slot 2, unparsed]}, summed over
    principles), ``samples_drawn`` (per prompt) and ``p_a_ci95``."""
    counts = [Counts() for _ in prompts]
    members: dict[int, list[int]] = {}
    for j, ri in enumerate(pairs):
        members.setdefault(ri, []).append(j)
    auto = cfg.samples == "auto"
    active, drawn, r = list(range(len(prompts))), {ri: 0 for ri in members}, 0
    while active:
        n = min(cfg.auto_step, cfg.auto_max - r * cfg.auto_step) if auto else int(cfg.samples)
        sampling = Sampling(n=n, temperature=cfg.temperature, top_p=1.0, max_new_tokens=cfg.max_new_tokens,
                            seed=cfg.seed + r * ROUND_SEED)
        for j, answers in zip(active, judge.sample([prompts[j] for j in active], sampling)):
            counts[j].add(answers, labels)
        for ri in {pairs[j] for j in active}:
            drawn[ri] += n
        r += 1
        if not auto or r * cfg.auto_step >= cfg.auto_max:
            break
        active = [j for ri, js in members.items() if not _stops(ri, js, counts, orders, cfg) for j in js]
    judge.usage.add(sampled_answers=sum(c.parsed + c.unparsed for c in counts),
                    unparsed_answers=sum(c.unparsed for c in counts))
    slot1 = [(c.posterior()[0], None) if c.parsed else
             (math.nan, f"no label in any of {c.unparsed} sampled answers (e.g. {c.example[:40]!r})") for c in counts]
    return slot1, {ri: _fields(js, counts, orders, drawn[ri]) for ri, js in members.items()}


def _stops(ri: int, js: list[int], counts: list[Counts], orders: Sequence[str], cfg: SampledLabels) -> bool:
    _, lo, hi = pair_interval([counts[j] for j in js], [orders[j] == "ba" for j in js])
    return not math.isnan(lo) and decided(lo, hi, cfg.auto_width)  # NaN: an order has no parsed answer yet


def _fields(js: list[int], counts: list[Counts], orders: Sequence[str], drawn: int) -> dict[str, Any]:
    by_order: dict[str, list[int]] = {}
    for j in js:
        tot = by_order.setdefault(orders[j], [0, 0, 0])
        for k, v in enumerate((counts[j].slot1, counts[j].slot2, counts[j].unparsed)):
            tot[k] += v
    _, lo, hi = pair_interval([counts[j] for j in js], [orders[j] == "ba" for j in js])
    return {"sample_counts": by_order, "samples_drawn": drawn, "p_a_ci95": [lo, hi]}
