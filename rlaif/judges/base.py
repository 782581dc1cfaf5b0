"""The judge backend protocol: the only thing the labeler and scorer know about a model.

Inputs are chat conversations (``Messages``: ``[{"role": "system"|"user"|"assistant", "content": str}]``);
each backend applies its own chat template and appends the assistant generation prefix.
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Protocol, Sequence

from rlaif.core.text import Messages



@dataclass
class LabelLogprobs:
    """Next-token log-probabilities of the requested labels after one prompt.

    ``logprobs`` maps a label to log P(next token is that label), natural log, summed over the
    label's surface variants (e.g. "1" and " 1"). A label the backend could not observe (e.g. not
    among a remote API's top-k) is *absent*, never filled in, and ``missing_reason`` says why.
    """

    logprobs: dict[str, float]
    missing_reason: str | None = None


_BUMP = threading.Lock()


def merge_label_logprobs(found: dict[str, list[float]], labels: Sequence[str], top_k: int) -> LabelLogprobs:
    """One label's log-prob from the log-probs of every token that spells it ("1", " 1"): log Σ exp.

    ``found`` maps a label to the finite log-probs seen for it among a backend's top-``top_k``; a label
    with none is left out and the reason says it was not among them (never filled in)."""
    out: dict[str, float] = {}
    for label in labels:
        vals = [v for v in found.get(label, []) if not math.isnan(v) and v > -math.inf]
        if vals:
            m = max(vals)
            out[label] = m + math.log(sum(math.exp(v - m) for v in vals))
    missing = [x for x in labels if x not in out]
    return LabelLogprobs(out, f"label(s) {missing} not among the top-{top_k} log-probs" if missing else None)


@dataclass
class Usage:
    """Token accounting (prompt tokens in, generated tokens out, requests, retries, engine extras).

    A backend's ``usage`` is its running total over every caller; ``add`` also counts into the
    meter of the job or request in progress (``metered``), so jobs sharing one judge each get their own.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    retries: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    def add(self, prompt_tokens: int = 0, completion_tokens: int = 0, requests: int = 0, retries: int = 0,
            **extra: float) -> None:
        meter = _METER.get()
        with _BUMP:
            for u in (self,) if meter is None or meter is self else (self, meter):
                u.prompt_tokens += prompt_tokens
                u.completion_tokens += completion_tokens
                u.requests += requests
                u.retries += retries
                for k, v in extra.items():
                    u.extra[k] = u.extra.get(k, 0) + v

    def as_dict(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "requests": self.requests, "retries": self.retries, **{k: round(v, 4) for k, v in self.extra.items()}}


_METER: ContextVar[Usage | None] = ContextVar("rlaif_usage_meter", default=None)


@contextmanager
def metered() -> Iterator[Usage]:
    """Count the judge usage of everything run inside (this thread or task, and what it starts with
    ``contextvars``) into a fresh ``Usage``, whichever judge instances it calls."""
    usage = Usage()
    token = _METER.set(usage)
    try:
        yield usage
    finally:
        _METER.reset(token)


class JudgeBackend(Protocol):
    """A judge model.

    Reasoning judges (``rlaif.labeling.reasoning``) also have ``reason(prompts, reasoning) -> list[Thought]``
    (greedy reasoning under ``reasoning.budget``, the in-process backends and ``openai``) and, where a server
    reasons inside each request, ``sample_reasoning(prompts, sampling, reasoning) -> list[list[Thought]]``
    (``openai``); see ``rlaif.judges.thinking``. A judge without them stops a reasoning job with one line.

    Attributes:
        judge_id: stable identifier recorded in every output row (engine:model).
        context_length: maximum tokens of prompt plus generation, or None if unknown.
        usage: running token counts for this backend instance.
    """

    judge_id: str
    context_length: int | None
    usage: Usage

    def count_tokens(self, messages: Messages) -> int:
        """Number of tokens the rendered prompt (chat template + generation prefix) takes."""
        ...

    def label_logprobs(self, prompts: Sequence[Messages], labels: Sequence[str],
                       continuations: Sequence[str] | None = None) -> list[LabelLogprobs]:
        """For each prompt, log-probs of each label as the next token of the assistant's reply.

        ``continuations`` (optional, one per prompt) is text already written at the start of the
        assistant reply (e.g. "1" when asking for the token after "1"). Returns one LabelLogprobs
        per prompt, in order.
        """
        ...

    def generate(self, prompts: Sequence[Messages], max_new_tokens: int) -> list[str]:
        """Greedy assistant replies, at most ``max_new_tokens`` tokens each, in order."""
        ...

    def sample(self, prompts: Sequence[Messages], sampling: "Sampling") -> list[list[str]]:
        """``sampling.n`` sampled assistant replies per prompt (the model as a policy), in order; the same
        prompt and seed give the same replies (``rlaif.judges.sampling.prompt_seed``)."""
        ...


if TYPE_CHECKING:
    from rlaif.judges.sampling import Sampling
