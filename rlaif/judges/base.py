"""The judge backend protocol: the only thing the labeler and scorer know about a model.

Inputs are chat conversations (``Messages``: ``[{"role": "system"|"user"|"assistant", "content": str}]``);
each backend applies its own chat template and appends the assistant generation prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

Messages = list[dict[str, str]]


@dataclass
class LabelLogprobs:
    """Next-token log-probabilities of the requested labels after one prompt.

    ``logprobs`` maps a label to log P(next token is that label), natural log, summed over the
    label's surface variants (e.g. "1" and " 1"). A label the backend could not observe (e.g. not
    among a remote API's top-k) is *absent*, never filled in, and ``missing_reason`` says why.
    """

    logprobs: dict[str, float]
    missing_reason: str | None = None


@dataclass
class Usage:
    """Token accounting for a job (prompt tokens in, generated tokens out, retries made)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    retries: int = 0
    extra: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class JudgeBackend(Protocol):
    """A judge model.

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
