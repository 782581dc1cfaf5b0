"""Candidate rows (``rlaif generate``: a prompt and n responses) as pair or single records: which pairs
of candidates a judge compares (``--pairs all|adjacent|random:K``), their ids and who wrote each response;
and the responses a prompt row already has, which ``rlaif generate --keep-responses`` keeps."""

from __future__ import annotations

import hashlib
import itertools
import random
from typing import Any, Callable

from rlaif.core.records import is_missing
from rlaif.core.text import is_messages
from rlaif.data.normalise import normalise_prompt, normalise_row, parse_human_label, row_id, text_field

DATASET = "dataset"  # the source name of responses whose input names no author


def parse_strategy(text: str) -> tuple[str, int | None]:
    """('all'|'adjacent'|'random', K) from ``all``, ``adjacent`` or ``random:K``; ValueError otherwise."""
    name, _, k = text.partition(":")
    if name in ("all", "adjacent") and not k:
        return name, None
    if name == "random" and k.isdigit() and int(k) >= 1:
        return name, int(k)
    raise ValueError(f"--pairs {text!r}: use all, adjacent or random:K (K >= 1)")


def candidate_pairs(n: int, strategy: str, k: int | None = None, seed: int = 0, group: str = "") -> list[tuple[int, int]]:
    """The (i, j) candidate pairs, i < j, a judge compares among ``n`` responses.

    all: every pair, n(n-1)/2; adjacent: the cycle (0,1), (1,2), ..., (n-1,0), n pairs (one pair for n = 2),
    so every candidate is compared twice and the comparison graph is connected; random: K distinct pairs
    per group, drawn with a seed from ``seed`` and ``group`` (so the same on every run), all if K >= n(n-1)/2.
    """
    every = list(itertools.combinations(range(n), 2))
    if strategy == "all" or n == 2:
        return every
    if strategy == "adjacent":
        return sorted((min(i, (i + 1) % n), max(i, (i + 1) % n)) for i in range(n))
    digest = hashlib.sha256(f"{seed}\x1f{group}".encode()).digest()
    return sorted(random.Random(digest).sample(every, min(k or 1, len(every))))


def _responses(row: dict[str, Any], loc: str, least: int) -> list[str]:
    resp = row.get("responses")
    if not isinstance(resp, (list, tuple)):
        raise ValueError(f"{loc} field 'responses' must be a list of strings")
    if len(resp) < least:
        raise ValueError(f"{loc} field 'responses' has {len(resp)} response(s); pairs need at least {least}")
    return [text_field(r, loc, f"responses[{i}]") for i, r in enumerate(resp)]


def _prompt_text(row: dict[str, Any], loc: str) -> str:
    if row.get("error"):
        raise ValueError(f"{loc}: the candidate row has an error ({row['error']}); generate it again")
    return text_field(row.get("prompt"), loc, "prompt")


def _messages(row: dict[str, Any], loc: str) -> dict[str, Any]:
    """``{"messages": [...]}``: the conversation the policy answered (kept so that training renders the
    prompt the way the candidates were sampled), or ``{}`` for a candidate row without one."""
    msgs = row.get("messages")
    if msgs is None:
        return {}
    if not is_messages(msgs) or not msgs:
        raise ValueError(f"{loc} field 'messages' must be a list of chat messages ({{'role': ..., 'content': ...}})")
    for i, m in enumerate(msgs):
        text_field(m.get("content"), loc, f"messages[{i}].content")
    return {"messages": [{"role": str(m["role"]), "content": m["content"]} for m in msgs]}


def _sources(row: dict[str, Any], loc: str, n: int) -> list[str] | None:
    """Who wrote each of the row's ``n`` responses: its ``sources`` (one name per response, as candidate files of
    several policies merged per prompt have), else its ``policy`` for all, else None (unknown)."""
    src = row.get("sources")
    if not is_missing(src):
        if not isinstance(src, (list, tuple)) or len(src) != n:
            raise ValueError(f"{loc} field 'sources' must be a list of {n} names, one per response")
        return [text_field(x, loc, f"sources[{i}]") for i, x in enumerate(src)]
    policy = row.get("policy")
    return None if is_missing(policy) or policy == "" else [text_field(policy, loc, "policy")] * n


def input_responses(row: dict[str, Any], index: int, loc: str) -> dict[str, Any]:
    """The responses a prompt row already has (``kept_responses``), who wrote them (``kept_sources``) and the
    humans' label of the first two (``kept_label``): a candidate row's (by ``_sources``; its ``kept_label``), a
    pair's two (``source_a``/``source_b``, ``human_label``); a response whose author the row does not name is
    "dataset"'s."""
    if "responses" in row:
        _prompt_text(row, loc)
        resp = _responses(row, loc, 1)
        return {"kept_responses": resp, "kept_sources": _sources(row, loc, len(resp)) or [DATASET] * len(resp),
                "kept_label": parse_human_label(row.get("kept_label"), loc, "kept_label") if len(resp) > 1 else None}
    if any(f in row for f in ("response_a", "response_b", "chosen", "rejected")):
        pair = normalise_row(row, index, loc)
        return {"kept_responses": [pair["response_a"], pair["response_b"]],
                "kept_sources": [pair.get("source_a", DATASET), pair.get("source_b", DATASET)],
                "kept_label": pair["human_label"]}
    return {"kept_responses": [], "kept_sources": [], "kept_label": None}


def prompt_normaliser(keep: bool = False) -> Callable:
    """The row normaliser of ``rlaif generate``: ``normalise_prompt``, plus with ``keep`` the row's own responses
    (``input_responses``)."""
    if not keep:
        return normalise_prompt

    def normalise(row: dict[str, Any], index: int, loc: str) -> dict[str, Any]:
        return {**normalise_prompt(row, index, loc), **input_responses(row, index, loc)}
    return normalise


def pair_normaliser(strategy: str | None, seed: int = 0, fallback: Callable | None = None) -> Callable:
    """A row normaliser for ``rlaif label``: candidate rows become one pair record per chosen pair
    (id ``GROUP:i-j``, with ``group``, ``candidate_a``, ``candidate_b``, and ``source_a``, ``source_b`` when the
    row says who wrote its responses; pair 0-1 gets the row's ``kept_label`` as its human_label); other rows
    go to ``fallback``."""
    name, k = parse_strategy(strategy) if strategy else (None, None)
    fallback = fallback or normalise_row

    def normalise(row: dict[str, Any], index: int, loc: str):
        if "responses" not in row or name is None:
            return fallback(row, index, loc)
        group, prompt, resp = row_id(row, index), _prompt_text(row, loc), _responses(row, loc, 2)
        msgs, src = _messages(row, loc), _sources(row, loc, len(resp))
        label = parse_human_label(row.get("kept_label"), loc, "kept_label")
        return [{"id": f"{group}:{i}-{j}", "prompt": prompt, "response_a": resp[i], "response_b": resp[j],
                 "human_label": label if (i, j) == (0, 1) else None, "group": group, "candidate_a": i,
                 "candidate_b": j, **msgs,
                 **({"source_a": src[i], "source_b": src[j]} if src else {})}
                for i, j in candidate_pairs(len(resp), name, k, seed, group)]
    return normalise


def single_normaliser(fallback: Callable) -> Callable:
    """A row normaliser for ``rlaif score``: a candidate row becomes one record per response (id
    ``GROUP:i``, with ``group`` and ``candidate``); other rows go to ``fallback``."""
    def normalise(row: dict[str, Any], index: int, loc: str):
        if "responses" not in row:
            return fallback(row, index, loc)
        group, prompt, resp = row_id(row, index), _prompt_text(row, loc), _responses(row, loc, 1)
        msgs = _messages(row, loc)
        return [{"id": f"{group}:{i}", "prompt": prompt, "response": r, "group": group, "candidate": i, **msgs}
                for i, r in enumerate(resp)]
    return normalise
