"""Chat rendering and label-token lookup shared by the local backends."""

from __future__ import annotations

from typing import Any, Callable

from rlaif.core.errors import RlaifError
from rlaif.judges.base import Messages


def plain_chat(messages: Messages) -> str:
    """Fallback rendering for tokenizers without a chat template."""
    return "".join(f"{m['role'].title()}: {m['content']}\n\n" for m in messages) + "Assistant:"


def render_chat(tokenizer: Any, messages: Messages) -> str:
    """Apply the tokenizer's chat template with the assistant generation prefix, as text."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return plain_chat(messages)


def label_token_ids(encode: Callable[[str], list[int]], label: str) -> list[int]:
    """Token ids that spell ``label`` as one token: the bare label and its space-prefixed variant.

    Raises RlaifError when no variant is a single token (the probability would be ill-defined).
    """
    ids = []
    for variant in (label, " " + label):
        toks = encode(variant)
        if len(toks) == 1 and toks[0] not in ids:
            ids.append(toks[0])
    if not ids:
        raise RlaifError(f"label '{label}' is not a single token for this judge's tokenizer")
    return ids
