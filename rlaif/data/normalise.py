"""Input row shapes -> the pair- and single-record schemas (see ``rlaif.core.schema``).

Accepted row shapes (detected per row):

* ``prompt, response_a, response_b`` (optional ``human_label``: 1/0, "a"/"b", or null; optional
  ``source_a``, ``source_b``: who wrote each response, both or neither);
* TRL preference rows ``prompt, chosen, rejected`` (strings or conversational message lists),
  and TRL implicit-prompt rows ``chosen, rejected`` whose shared prefix is the prompt;
* HH-RLHF transcripts: ``chosen``/``rejected`` strings of "\\n\\nHuman: ... \\n\\nAssistant: ..." turns
  that differ only in the final Assistant turn.

Prompt rows for ``rlaif generate`` (``normalise_prompt``) are any of these, or a plain ``prompt`` (text or
messages), or ``messages``; candidate rows (``prompt, responses``) become pairs in ``rlaif.data.candidates``.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

from rlaif.core.records import is_missing
from rlaif.core.text import flatten_messages
from rlaif.core.text import is_messages as _is_messages

_TURN = re.compile(r"\n\n(Human|Assistant):")


def text_field(value: Any, loc: str, fname: str) -> str:
    if is_missing(value):
        raise ValueError(f"{loc} field '{fname}' is missing")
    if not isinstance(value, str):
        raise ValueError(f"{loc} field '{fname}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{loc} field '{fname}' is empty")
    return value


def parse_hh(transcript: str) -> list[dict[str, str]]:
    """Split an HH-RLHF transcript into messages; raises ValueError if it has no turn markers."""
    parts = _TURN.split(transcript)
    if len(parts) < 3 or parts[0].strip():
        raise ValueError("not an HH-RLHF transcript (expected '\\n\\nHuman: ...' turns)")
    return [{"role": "user" if r == "Human" else "assistant", "content": c.strip()}
            for r, c in zip(parts[1::2], parts[2::2])]


def _split_conversation(msgs: list[dict[str, Any]], loc: str, fname: str) -> tuple[list, str]:
    if not msgs or msgs[-1].get("role") != "assistant":
        raise ValueError(f"{loc} field '{fname}' must end with an assistant turn")
    return list(msgs[:-1]), text_field(msgs[-1].get("content"), loc, fname)


def parse_human_label(value: Any, loc: str, field: str = "human_label") -> float | None:
    if is_missing(value):
        return None
    mapping = {"a": 1.0, "b": 0.0, "1": 1.0, "0": 0.0}
    if isinstance(value, str) and value.strip().lower() in mapping:
        return mapping[value.strip().lower()]
    if isinstance(value, str):  # CSV cells are text: "0.25" is a probability
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0:
        return float(value)
    raise ValueError(f"{loc} field '{field}' = {value!r} is not 1/0, 'a'/'b' or a probability")


def row_id(row: dict[str, Any], index: int) -> str:
    """The row's ``id`` column as a string, or "row-N" (0-based position in the source) when absent."""
    rid = row.get("id")
    return f"row-{index}" if is_missing(rid) else str(rid)


def _prompt(value: Any, loc: str) -> str:
    return flatten_messages(value) if _is_messages(value) else text_field(value, loc, "prompt")


def _same_context(ctx_c: list, ctx_r: list, loc: str) -> None:
    if ctx_c != ctx_r:
        raise ValueError(f"{loc} fields 'chosen'/'rejected' have different conversation contexts")


def _conversational(row: dict[str, Any], loc: str) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) of TRL conversational rows (explicit or implicit prompt)."""
    ctx_c, a = _split_conversation(list(row["chosen"]), loc, "chosen")
    ctx_r, b = _split_conversation(list(row["rejected"]), loc, "rejected")
    prompt = row.get("prompt")
    if prompt is not None:
        ctx = list(prompt) if _is_messages(prompt) else [{"role": "user", "content": text_field(prompt, loc, "prompt")}]
        ctx_c, ctx_r = ctx + ctx_c, ctx + ctx_r
    _same_context(ctx_c, ctx_r, loc)
    if not ctx_c:
        raise ValueError(f"{loc} field 'prompt' is missing (no conversation before the responses)")
    return flatten_messages(ctx_c), a, b


def _strings(row: dict[str, Any], loc: str) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) of string rows: explicit prompt, HH-RLHF transcripts, or TRL's
    implicit prompt (the shared prefix)."""
    chosen, rejected = text_field(row.get("chosen"), loc, "chosen"), text_field(row.get("rejected"), loc, "rejected")
    if row.get("prompt") is not None:
        return _prompt(row["prompt"], loc), chosen, rejected
    if chosen.startswith("\n\nHuman:"):
        ctx_c, a = _split_conversation(parse_hh(chosen), loc, "chosen")
        ctx_r, b = _split_conversation(parse_hh(rejected), loc, "rejected")
        _same_context(ctx_c, ctx_r, loc)
        return flatten_messages(ctx_c), a, b
    n = len(os.path.commonprefix([chosen, rejected]))
    return (text_field(chosen[:n], loc, "prompt"), text_field(chosen[n:], loc, "chosen"),
            text_field(rejected[n:], loc, "rejected"))


def normalise_row(row: dict[str, Any], index: int, loc: str) -> dict[str, Any]:
    """Turn one source row into a pair record; raises ValueError naming ``loc`` and the field."""
    rid = row_id(row, index)
    if "response_a" in row or "response_b" in row:
        return {"id": rid, "prompt": _prompt(row.get("prompt"), loc),
                "response_a": text_field(row.get("response_a"), loc, "response_a"),
                "response_b": text_field(row.get("response_b"), loc, "response_b"),
                "human_label": parse_human_label(row.get("human_label"), loc), **_sources(row, loc)}
    if "chosen" in row or "rejected" in row:
        conversational = _is_messages(row.get("chosen")) and _is_messages(row.get("rejected"))
        prompt, a, b = _conversational(row, loc) if conversational else _strings(row, loc)
        if chosen_in_slot_b(prompt, a, b):
            return {"id": rid, "prompt": prompt, "response_a": b, "response_b": a, "human_label": 0.0}
        return {"id": rid, "prompt": prompt, "response_a": a, "response_b": b, "human_label": 1.0}
    if "responses" in row:
        raise ValueError(f"{loc}: a candidate row ('responses'); label it with --pairs all|adjacent|random:K")
    raise ValueError(f"{loc}: no 'response_a'/'response_b' or 'chosen'/'rejected' fields "
                     f"(found: {', '.join(sorted(row)) or 'none'})")


def _sources(row: dict[str, Any], loc: str) -> dict[str, str]:
    """``source_a``, ``source_b`` (who wrote each response: a model id, or a name such as "dataset") when the row
    gives them; a row gives both or neither."""
    if is_missing(row.get("source_a")) and is_missing(row.get("source_b")):
        return {}
    return {f: text_field(row.get(f), loc, f) for f in ("source_a", "source_b")}


def chosen_in_slot_b(prompt: str, chosen: str, rejected: str) -> bool:
    """Whether a chosen/rejected row puts ``chosen`` in response_b: a hash of the content, so about
    half the rows each way, the same on every run, and human_label is never constant (which would
    make kappa and calibration against humans meaningless)."""
    digest = hashlib.sha256("\x1f".join((prompt, chosen, rejected)).encode("utf-8")).digest()
    return bool(digest[0] & 1)


def normalise_single(row: dict[str, Any], index: int, loc: str) -> dict[str, Any]:
    """A single-response record for scoring: ``id, prompt, response`` (``completion`` is accepted for
    ``response``; either may be a conversational message list)."""
    rid = row_id(row, index)
    prompt = _prompt(row.get("prompt"), loc)
    key = "response" if "response" in row or "completion" not in row else "completion"
    resp = row.get(key)
    if _is_messages(resp):
        resp = resp[-1].get("content") if len(resp) else None
    return {"id": rid, "prompt": prompt, "response": text_field(resp, loc, key)}


def _context(row: dict[str, Any], loc: str) -> list[dict[str, Any]]:
    """The conversation a policy should answer: a candidate row's ``messages`` (the conversation its policy
    saw), ``prompt`` (text or messages), ``messages`` (a final assistant turn is dropped), or the context of a
    chosen/rejected pair."""
    if "responses" in row and _is_messages(row.get("messages")) and row["messages"]:
        return list(row["messages"])
    if row.get("prompt") is not None:
        p = row["prompt"]
        return list(p) if _is_messages(p) else [{"role": "user", "content": text_field(p, loc, "prompt")}]
    if _is_messages(row.get("messages")):
        msgs = list(row["messages"])
        return msgs[:-1] if msgs and msgs[-1].get("role") == "assistant" else msgs
    chosen = row.get("chosen")
    if _is_messages(chosen):
        return _split_conversation(list(chosen), loc, "chosen")[0]
    if isinstance(chosen, str) and chosen.startswith("\n\nHuman:"):
        return _split_conversation(parse_hh(chosen), loc, "chosen")[0]
    raise ValueError(f"{loc} field 'prompt' is missing (found: {', '.join(sorted(row)) or 'none'})")


def normalise_prompt(row: dict[str, Any], index: int, loc: str) -> dict[str, Any]:
    """A prompt record for ``rlaif generate``: ``id, prompt`` (flattened text, as the judge reads it) and
    ``messages`` (what the policy is given; it must end with a user turn)."""
    msgs = _context(row, loc)
    if not msgs or msgs[-1].get("role") != "user":
        raise ValueError(f"{loc} field 'prompt' must end with a user turn")
    for m in msgs:
        text_field(m.get("content"), loc, "prompt")
    return {"id": row_id(row, index), "prompt": flatten_messages(msgs),
            "messages": [{"role": m["role"], "content": m["content"]} for m in msgs]}
