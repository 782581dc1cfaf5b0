"""DPO rows as conversations: the row shape ``rlaif export-dpo`` writes, and how a tokenizer turns a
prompt and a response into the token ids that DPO trains on (the same cut as TRL's DPOTrainer)."""

from __future__ import annotations

from typing import Any, Sequence

from rlaif.core.text import Messages, is_messages, prompt_messages
from rlaif.judges.chat import plain_chat


def record_prompt(record: dict[str, Any]) -> Messages:
    """The conversation a record's responses answer: its ``messages`` (the conversation the candidates
    were sampled under, kept by ``rlaif label``/``score``/``rank``), else its prompt text split into turns."""
    msgs = record.get("messages")
    if is_messages(msgs) and msgs:
        return [{"role": m["role"], "content": m["content"]} for m in msgs]
    return prompt_messages(record["prompt"])


def reply(text: str) -> Messages:
    """A response as TRL's conversational completion: one assistant message."""
    return [{"role": "assistant", "content": text}]


def dpo_row(record: dict[str, Any], chosen: str, rejected: str) -> dict[str, Any]:
    """The conversational preference fields of an export row: ``prompt`` (messages), ``chosen``, ``rejected``."""
    return {"prompt": record_prompt(record), "chosen": reply(chosen), "rejected": reply(rejected)}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value[-1]["content"])


def row_parts(row: dict[str, Any]) -> tuple[Messages, str, str]:
    """(prompt messages, chosen text, rejected text) of an export row, conversational or an older text row."""
    prompt = row["prompt"]
    msgs = [dict(m) for m in prompt] if is_messages(prompt) else prompt_messages(prompt)
    return msgs, _text(row["chosen"]), _text(row["rejected"])


def has_chat_template(tok: Any) -> bool:
    return bool(getattr(tok, "chat_template", None))


def trl_row(tok: Any, row: dict[str, Any]) -> dict[str, Any]:
    """The row TRL's DPOTrainer is given: conversational when the tokenizer has a chat template; else text
    whose prompt ends in the assistant turn ("...Assistant:") and whose responses start with a space, so
    that the prompt's tokens are a prefix of prompt+response."""
    msgs, chosen, rejected = row_parts(row)
    if has_chat_template(tok):
        return {"prompt": msgs, "chosen": reply(chosen), "rejected": reply(rejected)}
    return {"prompt": plain_chat(msgs), "chosen": " " + chosen, "rejected": " " + rejected}


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def prompt_response_ids(tok: Any, prompt: Messages, response: str) -> tuple[list[int], list[int]]:
    """(prompt ids, response ids) the way TRL 1.16 tokenizes a DPO row: the chat template over the prompt
    (with the generation prompt) and over prompt + reply (which closes the turn), the response starting
    where the two diverge; without a template, ``trl_row``'s text and an EOS after the response."""
    if has_chat_template(tok):
        p = tok.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
        full = tok.apply_chat_template(prompt + reply(response), tokenize=True, return_dict=True)["input_ids"]
    else:
        text = plain_chat(prompt)
        p = tok(text)["input_ids"]
        full = tok(text + " " + response + (tok.eos_token or ""))["input_ids"]
    n = common_prefix(p, full)
    return list(full[:n]), list(full[n:])
