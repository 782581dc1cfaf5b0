"""Record checks and constructors: a new record at its blank values, the schema checks run when data is
loaded, and the field lists the writers use. The fields themselves (names, types, meanings) are the record
types of ``rlaif.core.records``; the README's *Record schema* tables are made from them.
"""

from __future__ import annotations

from typing import Any, Iterable

from rlaif.core.records import (DpoExportRow, DpoRow, LabelRecord, PairRecord, RankedRecord, ScoreRecord, blank,
                                field_names, settle)
from rlaif.core.text import is_messages

DPO_FIELDS = field_names(DpoRow)  # TRL's conversational preference rows (``rlaif export-dpo``)
DPO_EXPORT_FIELDS = field_names(DpoExportRow)  # what ``rlaif export-dpo`` writes
PAIR_FIELDS = field_names(PairRecord)
RECORD_FIELDS = field_names(LabelRecord)  # every label record has these
RANKED_FIELDS = field_names(RankedRecord)  # ``rlaif rank``

INVALID_INPUT = "invalid input: "


def label_record(pair: dict[str, Any], provenance: dict[str, str], **values: Any) -> dict[str, Any]:
    """A label record: the pair, every label field at its "not labelled" value, the provenance
    (judge, constitution, template, config_hash), then ``values``."""
    return settle({**{f: pair.get(f) for f in PAIR_FIELDS}, **{k: v for k, v in pair.items() if k not in PAIR_FIELDS},
                   **blank(LabelRecord), **provenance, **values})


def score_record(item: dict[str, Any], provenance: dict[str, str], **values: Any) -> dict[str, Any]:
    """A score record (``rlaif score``): the item, the score fields unset, the provenance, then ``values``."""
    return settle({**item, **blank(ScoreRecord), **provenance, **values})


def candidate_record(item: dict[str, Any], provenance: dict[str, Any], **values: Any) -> dict[str, Any]:
    """A candidate record (``rlaif generate``): the prompt, no responses yet, the provenance, then ``values``."""
    return {"id": item.get("id"), "prompt": item.get("prompt"), "messages": item.get("messages"),
            "responses": None, "error": None, **provenance, **values}


def missing_reasons(records: Iterable[dict[str, Any]], value_field: str = "p_a") -> dict[str, int]:
    """How many records lack ``value_field`` (None), by their ``error`` reason."""
    out: dict[str, int] = {}
    for r in records:
        if r.get(value_field) is None:
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
    if p is None:
        if not rec["error"]:
            raise ValueError(f"{where}: field 'p_a' is null without an 'error' reason")
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
