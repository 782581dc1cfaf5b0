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


def conversation_pieces(render: Callable[[Messages], str], messages: Messages,
                        continuation: str = "") -> list[tuple[str, bool]]:
    """``render(messages) + continuation`` as pieces ``(text, is_conversation)``, in order: the chat
    template's own text and the continuation, the assistant's own words (their control tokens are real: a
    reasoning's "<|end|>"), and the messages' contents (plain text, whatever it spells). Found by rendering a
    private-use marker in place of each content; a content the template does not show is left out."""
    marks = [f"\ue000{i}\ue001" for i in range(len(messages))]
    text = render([{**m, "content": mark} for m, mark in zip(messages, marks)])
    pieces, pos = [], 0
    for m, mark in zip(messages, marks):
        at = text.find(mark, pos)
        if at < 0:
            continue
        pieces += [(text[pos:at], False), (str(m["content"]), True)]
        pos = at + len(mark)
    pieces += [(text[pos:], False), (continuation, False)]
    return [(t, conv) for t, conv in pieces if t]


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
