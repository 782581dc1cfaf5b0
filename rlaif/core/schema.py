"""Record schemas, written down once and checked when data is loaded.

A *pair record* is the normalised input of the labeler, whatever the source format:

=============  =======  =====================================================================
field          type     meaning
=============  =======  =====================================================================
id             str      stable row id: the input's ``id`` column if present, else the 0-based
                        row number in the source ("row-17"); an input row that could not be used
                        gets "invalid-" + a hash of its content
prompt         str      the context the responses answer (a conversation flattened to
                        "User: ...\n\nAssistant: ..." turns, or plain text)
response_a     str      first candidate response
response_b     str      second candidate response
human_label    float?   1.0 if humans preferred response_a, 0.0 if response_b, null if unknown.
                        Chosen/rejected inputs put ``chosen`` in slot a or b by a content hash
                        (about half each, stable across runs); human_label says which.
=============  =======  =====================================================================

A *label record* is a pair record plus the judge's output:

================  ========  ===================================================================
p_a               float     debiased P(response_a preferred) = (p_a_first + p_a_second) / 2;
                            NaN only with ``error`` set
p_a_first         float     P(a preferred) when a is shown in slot 1
p_a_second        float     P(a preferred) when a is shown in slot 2 (= 1 - P(slot 1) in that order)
consistent        bool?     both orders pick the same response (null when a probability is NaN)
p_a_principles    list      p_a for each principle used (ensembles average them)
principles        list      names of the constitution principles used for this row
rationales        list?     chain-of-thought rationales (CoT mode only), one per prompt
truncated         bool      the context was cut from the left to fit the judge's context window
error             str?      why p_a is NaN (null when labelled)
judge             str       judge id, e.g. "llamacpp:SmolLM2-135M-Instruct.Q4_1"
constitution      str       constitution name
template          str       prompt template "name@version"
config_hash       str       fingerprint of every labeler setting; resume refuses a mismatch
p_a_raw           float     (only with --calibration) p_a before temperature scaling
sample_counts     dict      (only with --method sample) per order ("ab", "ba"): [answers naming slot 1,
                            slot 2, neither], summed over principles
samples_drawn     int       (only with --method sample) answers drawn per prompt ('auto' may stop early)
p_a_ci95          list      (only with --method sample) 95% interval of the uncalibrated p_a
                            (``rlaif.labeling.sampled``)
================  ========  ===================================================================
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from rlaif.core.text import is_messages

# ``rlaif export-dpo`` rows are TRL's conversational preference rows: ``prompt`` a list of messages ending
# with a user turn, ``chosen`` and ``rejected`` one assistant message each; ``p_chosen`` in [0.5, 1]
DPO_FIELDS = ("prompt", "chosen", "rejected", "p_chosen")
# what ``rlaif export-dpo`` writes: the DPO fields plus provenance
DPO_EXPORT_FIELDS = DPO_FIELDS + ("id", "judge", "constitution", "template", "human_agrees")

PAIR_FIELDS = ("id", "prompt", "response_a", "response_b", "human_label")
LABEL_FIELDS = (
    "p_a", "p_a_first", "p_a_second", "consistent", "p_a_principles", "principles",
    "rationales", "truncated", "error", "judge", "constitution", "template", "config_hash",
)
RECORD_FIELDS = PAIR_FIELDS + LABEL_FIELDS

SINGLE_FIELDS = ("id", "prompt", "response")
SCORE_FIELDS = ("score", "reward", "probs", "entropy", "truncated", "error", "judge", "constitution", "template",
                "config_hash")

# ``rlaif generate``: n sampled responses per prompt (``messages`` is the conversation the policy saw)
CANDIDATE_FIELDS = ("id", "prompt", "messages", "responses", "policy", "sampling", "error", "config_hash")
# pairs made from candidates (``rlaif label --pairs``) carry these besides the pair fields, and the
# candidates' ``messages`` (score records of candidates too)
GROUP_FIELDS = ("group", "candidate_a", "candidate_b")
# ``rlaif rank``: one row per prompt; ``scores``/``ranks`` follow ``ranked_by`` (rank 1 = best)
# (``messages``: the candidates' conversation, null for candidates made without one)
RANKED_FIELDS = ("id", "prompt", "messages", "responses", "ranked_by", "scores", "ranks", "bt_scores", "bt_log_likelihood",
                 "pairs_used", "judge_scores", "config_hash", "judge", "constitution", "template")

INVALID_INPUT = "invalid input: "


def label_record(pair: dict[str, Any], provenance: dict[str, str], **values: Any) -> dict[str, Any]:
    """A label record: the pair, every label field at its "not labelled" value, the provenance
    (judge, constitution, template, config_hash), then ``values``."""
    blank = {"p_a": math.nan, "p_a_first": math.nan, "p_a_second": math.nan, "consistent": None,
             "p_a_principles": [], "principles": [], "rationales": None, "truncated": False, "error": None}
    return {**{f: pair.get(f) for f in PAIR_FIELDS}, **{k: v for k, v in pair.items() if k not in PAIR_FIELDS},
            **blank, **provenance, **values}


def score_record(item: dict[str, Any], provenance: dict[str, str], **values: Any) -> dict[str, Any]:
    """A score record (``rlaif score``): the item, the score fields unset, the provenance, then ``values``."""
    blank = {"score": None, "reward": None, "probs": None, "entropy": None, "truncated": False, "error": None}
    return {**item, **blank, **provenance, **values}


def candidate_record(item: dict[str, Any], provenance: dict[str, Any], **values: Any) -> dict[str, Any]:
    """A candidate record (``rlaif generate``): the prompt, no responses yet, the provenance, then ``values``."""
    return {"id": item.get("id"), "prompt": item.get("prompt"), "messages": item.get("messages"),
            "responses": None, "error": None, **provenance, **values}


def missing_reasons(records: Iterable[dict[str, Any]], value_field: str = "p_a") -> dict[str, int]:
    """How many records lack ``value_field`` (null or NaN), by their ``error`` reason."""
    out: dict[str, int] = {}
    for r in records:
        v = r.get(value_field)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            reason = str(r.get("error") or "unknown")
            out[reason] = out.get(reason, 0) + 1
    return out


def is_invalid_input(rec: dict[str, Any]) -> bool:
    """Whether ``rec`` is the error record of an input row that could not be used (never "done":
    such rows are tried again on every run)."""
    return str(rec.get("error") or "").startswith(INVALID_INPUT)


def check_label_record(rec: dict[str, Any], where: str) -> None:
    """Raise ValueError naming ``where`` and the field if ``rec`` breaks the label-record schema."""
    for f in RECORD_FIELDS:
        if f not in rec:
            raise ValueError(f"{where}: missing field '{f}'")
    for f in ("id", "prompt", "response_a", "response_b", "judge", "constitution", "template"):
        if not isinstance(rec[f], str):
            raise ValueError(f"{where}: field '{f}' must be a string")
    p = rec["p_a"]
    if p is None or (isinstance(p, float) and math.isnan(p)):
        if not rec["error"]:
            raise ValueError(f"{where}: field 'p_a' is NaN without an 'error' reason")
    elif not (isinstance(p, (int, float)) and 0.0 <= p <= 1.0):
        raise ValueError(f"{where}: field 'p_a' = {p!r} is not a probability")


def _check_turns(value: Any, where: str, field: str, last_role: str) -> None:
    """A DPO field: a non-empty string (older text rows), or messages with text contents ending in a
    ``last_role`` turn (the conversational rows ``rlaif export-dpo`` writes)."""
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{where}: field '{field}' is empty")
        return
    if not is_messages(value) or not value:
        raise ValueError(f"{where}: field '{field}' must be a list of chat messages or a string")
    for i, m in enumerate(value):
        if not isinstance(m.get("content"), str) or not m["content"].strip():
            raise ValueError(f"{where}: field '{field}[{i}].content' must be a non-empty string")
    if value[-1]["role"] != last_role:
        raise ValueError(f"{where}: field '{field}' must end with a {last_role} turn, not {value[-1]['role']!r}")


def check_dpo_row(rec: dict[str, Any], where: str) -> None:
    """Raise ValueError naming ``where`` and the field if ``rec`` is not an ``rlaif export-dpo`` row."""
    for f in DPO_FIELDS:
        if f not in rec:
            raise ValueError(f"{where}: missing field '{f}' (make the file with 'rlaif export-dpo')")
    _check_turns(rec["prompt"], where, "prompt", "user")
    for f in ("chosen", "rejected"):
        _check_turns(rec[f], where, f, "assistant")
    p = rec["p_chosen"]
    if not (isinstance(p, (int, float)) and 0.5 <= p <= 1.0):
        raise ValueError(f"{where}: field 'p_chosen' = {p!r} is not a probability in [0.5, 1]")
