"""Text shapes every layer shares: chat messages, flattening them to text, and the one rendering of
prompt + response that a reward model or a policy sees."""

from __future__ import annotations

import re
from typing import Any, Iterable

Messages = list[dict[str, str]]
"""A chat conversation: ``[{"role": "system"|"user"|"assistant", "content": str}, ...]``."""

ASSISTANT_TURN = "\n\nAssistant: "

# The text of chat templates' control tokens: <|...|> (ChatML, Llama 3, Phi, GPT-2's <|endoftext|>), DeepSeek's
# <｜...｜>, Gemma's turn markers, SentencePiece's <s> </s>, Llama 2 / Mistral's [INST] [/INST] <<SYS>> <</SYS>>.
SPECIAL_TOKEN_TEXT = re.compile(r"<\|[^<>|\s]{1,64}\|>|<｜[^<>｜]{1,64}｜>|</?(?:s|bos|eos|pad|unk)>"
                                r"|<(?:start|end)_of_turn>|\[/?INST\]|<</?SYS>>")


def strip_special_tokens(text: str) -> str:
    """``text`` without control-token text (``SPECIAL_TOKEN_TEXT``), so that what a judge is asked to rate
    cannot end its turn or open a new one (OpenRLHF sends chat-templated, special-token text)."""
    return SPECIAL_TOKEN_TEXT.sub("", text)


def is_messages(value: Any) -> bool:
    """Whether ``value`` is a conversational message list (dicts with a ``role``)."""
    return isinstance(value, (list, tuple)) and all(isinstance(m, dict) and "role" in m for m in value)


def flatten_messages(messages: Iterable[dict[str, Any]]) -> str:
    """Render chat messages as "User: ...\\n\\nAssistant: ..." text for the judge's prompt."""
    names = {"user": "User", "assistant": "Assistant", "system": "System"}
    return "\n\n".join(f"{names.get(m['role'], m['role'].title())}: {str(m.get('content', '')).strip()}"
                       for m in messages)


_TURN = re.compile(r"(?:\A|\n\n)(User|Assistant|System): ")


def prompt_messages(prompt: str) -> Messages:
    """A prompt as the conversation a chat policy is given: text that ``flatten_messages`` wrote
    ("User: ...\n\nAssistant: ...\n\nUser: ...", ending with a user turn) split back into its turns,
    any other text as one user turn."""
    parts = _TURN.split(prompt)
    if len(parts) < 3 or parts[0] or parts[-2] != "User":
        return [{"role": "user", "content": prompt}]
    return [{"role": role.lower(), "content": text.strip()} for role, text in zip(parts[1::2], parts[2::2])]


def as_text(x: Any) -> str:
    """A prompt or completion as plain text: strings as they are, a lone assistant message as its
    content, other message lists flattened (TRL passes either shape)."""
    if isinstance(x, str):
        return x
    if isinstance(x, (list, tuple)) and all(isinstance(m, dict) for m in x):
        if len(x) == 1 and x[0].get("role") == "assistant":
            return str(x[0].get("content", ""))
        return flatten_messages(x)
    return str(x)


def policy_prompt(prompt: str) -> str:
    """The text a reward model or policy is given before a response: the prompt, then the assistant turn."""
    return prompt + ASSISTANT_TURN


def policy_text(prompt: str, response: str) -> str:
    """Prompt and response as one text, the way the reward model and DPO policy read them."""
    return policy_prompt(prompt) + response
