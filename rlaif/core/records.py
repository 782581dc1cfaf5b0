"""The record types: every record field, its type, its Arrow type and its meaning, written down once.

Field lists (``field_names``), the Arrow schema (``rlaif.distributed.arrow``), the blank values of a new record
(``rlaif.core.schema``) and the README's *Record schema* tables (``markdown_table``) are derived from these
classes. In memory a record is passed around as a plain dict with these keys (``to_dict`` / ``from_dict``
convert); a field group ``"optional"`` is present only when the setting that makes it is on.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, TypeVar

R = TypeVar("R")
_NO_DEFAULT = object()


def _f(doc: str, default: Any = None, arrow: str | None = None, group: str = "", factory: Any = None,
       nan_on_disk: bool = False) -> Any:
    """A record field: ``doc`` its meaning, ``arrow`` its fixed Arrow type name (None: inferred), ``group`` one of
    "" (always present), "provenance" (who made the record) or "optional"; ``nan_on_disk``: Parquet and Arrow
    files hold NaN where this field (or an element of it) has no value, as rlaif always wrote them."""
    meta = {"doc": doc, "arrow": arrow, "group": group, "nan_on_disk": nan_on_disk}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


_JUDGE = "judge id, e.g. \"llamacpp:SmolLM2-135M-Instruct.Q4_1\""
_HASH = "fingerprint of every setting; resume refuses a mismatch"
_MESSAGES = "the conversation as chat messages (role, content)"


@dataclass(kw_only=True)
class PairRecord:
    """The normalised input of the labeler, whatever the source format."""

    id: str = _f("stable row id: the input's ``id`` column if present, else the 0-based row number in the source "
                 "(\"row-17\"); an input row that could not be used gets \"invalid-\" + a hash of its content",
                 "", "string")
    prompt: str = _f("the context the responses answer (a conversation flattened to \"User: ...\\n\\nAssistant: ...\" "
                     "turns, or plain text)", "", "string")
    response_a: str = _f("first candidate response", "", "string")
    response_b: str = _f("second candidate response", "", "string")
    human_label: float | None = _f("1.0 if humans preferred response_a, 0.0 if response_b, null if unknown; "
                                   "chosen/rejected inputs put ``chosen`` in slot a or b by a content hash (about "
                                   "half each, stable across runs) and human_label says which", None, "float64")


def _judged(cls: type) -> type:
    """Give a record type made by a judge its provenance fields (judge, constitution, template, config_hash),
    after its own fields and before its optional ones."""
    made = {"judge": _f(_JUDGE, "", "string", "provenance"),
            "constitution": _f("constitution name", "", "string", "provenance"),
            "template": _f("prompt template \"name@version\"", "", "string", "provenance"),
            "config_hash": _f(_HASH, "", "string", "provenance")}
    own = dict(cls.__dict__.get("__annotations__", {}))
    optional = [n for n in own if getattr(cls.__dict__.get(n), "metadata", {}).get("group") == "optional"]
    cls.__annotations__ = {**{n: t for n, t in own.items() if n not in optional}, **{n: "str" for n in made},
                           **{n: own[n] for n in optional}}
    for name, f in made.items():
        setattr(cls, name, f)
    return cls


@dataclass(kw_only=True)
@_judged
class LabelRecord(PairRecord):
    """A pair record plus the judge's soft label (``rlaif label``)."""

    p_a: float | None = _f("debiased P(response_a preferred) = (p_a_first + p_a_second) / 2 (a panel: its members' "
                           "p_a pooled by mean log-odds); null only with ``error`` set", None, "float64", nan_on_disk=True)
    p_a_first: float | None = _f("P(a preferred) when a is shown in slot 1 (a panel: the members' pooled)", None,
                                 "float64", nan_on_disk=True)
    p_a_second: float | None = _f("P(a preferred) when a is shown in slot 2 (= 1 - P(slot 1) in that order)",
                                  None, "float64", nan_on_disk=True)
    consistent: bool | None = _f("both orders pick the same response (null when a probability is missing)",
                                 None, "bool")
    p_a_principles: list = _f("p_a for each principle used (ensembles average them)", arrow="list<float64>",
                              factory=list, nan_on_disk=True)
    principles: list = _f("names of the constitution principles used for this row", arrow="list<string>",
                          factory=list)
    rationales: list | None = _f("chain-of-thought rationales (CoT mode only), one per prompt", None, "list<string>")
    truncated: bool = _f("the context was cut from the left to fit the judge's context window", False, "bool")
    error: str | None = _f("why p_a is null (null when labelled)", None, "string")
    p_a_raw: float | None = _f("(only with --calibration) p_a before temperature scaling", None, group="optional",
                               nan_on_disk=True)
    sample_counts: dict | None = _f("(only with --method sample) per order (\"ab\", \"ba\"): [answers naming slot 1, "
                                    "slot 2, neither], summed over principles", None, group="optional")
    samples_drawn: int | None = _f("(only with --method sample) answers drawn per prompt ('auto' may stop early)",
                                   None, "int64", "optional")
    p_a_ci95: list | None = _f("(only with --method sample) 95% interval of the uncalibrated p_a", None,
                               "list<float64>", "optional", nan_on_disk=True)
    reasoning: list | None = _f("(only with --reasoning) the judge's reasoning before its answer, one per prompt "
                                "(as rationales; with --method sample the first sampled reply's); null where the "
                                "server keeps it hidden", None, "list<string>", "optional")
    reasoning_cut: int | None = _f("(only with --reasoning) reasonings of this row the judge did not close (cut at "
                                   "the budget, or its turn ended inside; rlaif closed them before the answer; with "
                                   "--method sample: sampled replies)", None, group="optional")
    panel: dict | None = _f("(only with a panel) each member's p_a (after its own calibration) by judge id; null for "
                            "a member that gave no label on this row", None, group="optional")
    panel_errors: list | None = _f("(only with a panel) why each member without a label on this row gave none, as "
                                   "\"judge id: reason\" (empty when every member labelled it)", None, "list<string>",
                                   "optional")
    panel_disagreement: float | None = _f("(only with a panel) standard deviation of the members' p_a: 0 all alike, "
                                          "0.5 split between certain a and certain b; null with fewer than two", None,
                                          "float64", "optional")
    group: str | None = _f("(pairs made from candidates, --pairs) the prompt's id", None, group="optional")
    candidate_a: int | None = _f("(--pairs) index of response_a among the candidates", None, group="optional")
    candidate_b: int | None = _f("(--pairs) index of response_b among the candidates", None, group="optional")
    messages: list | None = _f("(--pairs) " + _MESSAGES, None, "messages", "optional")
    source_a: str | None = _f("(when the input says, or --pairs) who wrote response_a: the input row's ``source_a``, "
                              "or the policy id of a candidate (``sources``, else ``policy``)", None, "string", "optional")
    source_b: str | None = _f("(as source_a) who wrote response_b", None, "string", "optional")


@dataclass(kw_only=True)
class SingleRecord:
    """One response to score (``rlaif score``'s input)."""

    id: str = _f("stable row id, as for pairs", "", "string")
    prompt: str = _f("the context the response answers", "", "string")
    response: str = _f("the response to score", "", "string")
    messages: list | None = _f("(candidates) " + _MESSAGES, None, "messages", "optional")


@dataclass(kw_only=True)
@_judged
class ScoreRecord(SingleRecord):
    """A single-response record plus the judge's score (``rlaif score``, direct RLAIF)."""

    score: float | None = _f("expected score under the score-token distribution", None, "float64")
    reward: float | None = _f("the score scaled to the reward range", None, "float64")
    probs: list | None = _f("probability of each score token", None, "list<float64>")
    entropy: float | None = _f("entropy of the score-token distribution, in nats", None, "float64")
    truncated: bool = _f("the context was cut from the left to fit the judge's context window", False, "bool")
    error: str | None = _f("why score is null (null when scored)", None, "string")


@dataclass(kw_only=True)
class CandidateRecord:
    """n sampled responses per prompt (``rlaif generate``)."""

    id: str = _f("the prompt's id", "", "string")
    prompt: str = _f("the prompt as text", "", "string")
    messages: list | None = _f("the conversation the policy saw (chat messages)", None, "messages")
    responses: list | None = _f("the sampled responses (null with ``error``)", None)
    error: str | None = _f("why there are no responses", None, "string")
    policy: str = _f("the policy model's id", "", group="provenance")
    sampling: dict | None = _f("the sampling settings", None, group="provenance")
    config_hash: str = _f(_HASH, "", "string", "provenance")
    sources: list | None = _f("(only with --keep-responses) who wrote each response: the input's source names "
                              "(\"dataset\" when it names none), then the policy id", None, "list<string>", "optional")
    kept_label: float | None = _f("(--keep-responses, an input pair with a human label) 1.0 if humans preferred "
                                  "responses[0] to responses[1], 0.0 if responses[1]: the human_label of pair 0-1",
                                  None, "float64", "optional")


@dataclass(kw_only=True)
class RankedRecord:
    """One row per prompt ranking its candidates (``rlaif rank``); ``scores``/``ranks`` follow ``ranked_by``."""

    id: str = _f("the prompt's id (the candidates' group)", "")
    prompt: str = _f("the prompt as text", "")
    messages: list | None = _f("the candidates' conversation, null for candidates made without one", None)
    responses: list | None = _f("the candidates", None)
    ranked_by: str = _f("\"bt\" (Bradley-Terry over the pair labels) or \"score\" (judge scores)", "bt")
    scores: list | None = _f("the scores ranked by, one per candidate (null: no value)", None, nan_on_disk=True)
    ranks: list | None = _f("rank of each candidate, 1 = best (null: no value)", None)
    bt_scores: list | None = _f("Bradley-Terry strengths (null: the candidate is in no labelled pair)", None,
                                nan_on_disk=True)
    bt_log_likelihood: float | None = _f("mean log-likelihood of the labels under the fit", None)
    pairs_used: int | None = _f("labelled pairs the fit used", None)
    judge_scores: list | None = _f("judge scores of the candidates (null: not scored)", None, nan_on_disk=True)
    config_hash: dict | None = _f("config_hash of the label and score files used", None)
    judge: str | None = _f(_JUDGE, None, group="provenance")
    constitution: str | None = _f("constitution name", None, group="provenance")
    template: str | None = _f("prompt template \"name@version\"", None, group="provenance")


@dataclass(kw_only=True)
class DpoRow:
    """TRL's conversational preference row (``rlaif export-dpo``)."""

    prompt: list = _f("chat messages ending with a user turn", factory=list)
    chosen: list = _f("one assistant message", factory=list)
    rejected: list = _f("one assistant message", factory=list)
    p_chosen: float = _f("P(chosen preferred), in [0.5, 1]", 0.5)


@dataclass(kw_only=True)
class DpoExportRow(DpoRow):
    """What ``rlaif export-dpo`` writes: a DPO row plus provenance."""

    id: str = _f("the pair's id", "")
    judge: str = _f(_JUDGE, "", group="provenance")
    constitution: str = _f("constitution name", "", group="provenance")
    template: str = _f("prompt template \"name@version\"", "", group="provenance")
    human_agrees: bool | None = _f("the judge picks the response the human picked (null: unknown)", None)


RECORD_TYPES = (PairRecord, LabelRecord, SingleRecord, ScoreRecord, CandidateRecord, RankedRecord, DpoRow,
                DpoExportRow)
# the records that travel as Arrow tables (the Ray engine's batches and shards)
ARROW_RECORDS = (PairRecord, LabelRecord, SingleRecord, ScoreRecord, CandidateRecord)


def record_fields(cls: type, optional: bool = False) -> tuple[dataclasses.Field, ...]:
    """The fields of record type ``cls`` in order (those of group "optional" only with ``optional``)."""
    return tuple(f for f in dataclasses.fields(cls) if optional or f.metadata["group"] != "optional")


def field_names(cls: type, optional: bool = False) -> tuple[str, ...]:
    """The field names of record type ``cls`` in order (those of group "optional" only with ``optional``)."""
    return tuple(f.name for f in record_fields(cls, optional))


def own_fields(cls: type, group: str | None = None) -> tuple[dataclasses.Field, ...]:
    """The fields ``cls`` adds to its base record type (of ``group`` if given)."""
    base = set(field_names(cls.__mro__[1], True)) if dataclasses.is_dataclass(cls.__mro__[1]) else set()
    return tuple(f for f in record_fields(cls, True) if f.name not in base
                 and (group is None or f.metadata["group"] == group))


@functools.cache
def optional_fields() -> frozenset[str]:
    """The fields of group "optional" (present only with the setting that makes them), over every record type."""
    return frozenset(f.name for cls in RECORD_TYPES for f in dataclasses.fields(cls) if f.metadata["group"] == "optional")


def default(f: dataclasses.Field) -> Any:
    """A field's value in a new record."""
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def blank(cls: type) -> dict[str, Any]:
    """The fields ``cls`` adds to its base at their values in a new record (provenance and optional ones aside):
    a label record's "not labelled yet", a score record's "not scored yet"."""
    return {f.name: default(f) for f in own_fields(cls, "")}


def from_dict(cls: type[R], d: dict[str, Any]) -> R:
    """A record of type ``cls`` from a record dict; keys that are not fields of ``cls`` are kept in ``.extra``."""
    names = set(field_names(cls, True))
    rec = cls(**{k: v for k, v in d.items() if k in names})
    rec.extra = {k: v for k, v in d.items() if k not in names}  # type: ignore[attr-defined]
    return rec


def to_dict(rec: Any) -> dict[str, Any]:
    """The record dict of ``rec``: its fields in order, then the keys ``from_dict`` kept in ``.extra``."""
    return {**{f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)}, **getattr(rec, "extra", {})}


def field_types() -> dict[str, str]:
    """Field name -> Arrow type name, over the ``ARROW_RECORDS`` (a name has one type wherever it appears)."""
    out: dict[str, str] = {}
    for cls in ARROW_RECORDS:
        for f in record_fields(cls, True):
            if f.metadata["arrow"] is not None:
                if out.setdefault(f.name, f.metadata["arrow"]) != f.metadata["arrow"]:
                    raise TypeError(f"field {f.name!r} has two Arrow types")
    return out


def markdown_table(cls: type, inherited: bool = False) -> str:
    """The README's table of the fields of ``cls`` (only those it adds to its base unless ``inherited``)."""
    rows = record_fields(cls, True) if inherited else own_fields(cls)
    return "\n".join(["| field | meaning |", "|---|---|"] + [f"| `{f.name}` | {f.metadata['doc']} |" for f in rows])


def is_missing(v: Any) -> bool:
    """Whether ``v`` stands for "no value": None, or a float NaN (as pandas and float arithmetic write it). Records
    hold None (``settle``); this is for values from outside a record (input tables, arithmetic)."""
    return v is None or (isinstance(v, float) and v != v)


def _settled(v: Any) -> Any:
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, list):
        return [_settled(x) for x in v]
    return v


def settle(rec: dict[str, Any]) -> dict[str, Any]:
    """The record with **the one missing-value convention**: a value that is not there is None (JSON null), at
    the top level and in lists; NaN never stays in a record. Readers and producers of records call this."""
    return {k: _settled(v) for k, v in rec.items()}


@functools.cache
def _nan_on_disk() -> tuple[frozenset[str], frozenset[str]]:
    """(scalar fields, list fields) whose missing values Parquet and Arrow files hold as NaN."""
    fs = [f for cls in RECORD_TYPES for f in record_fields(cls, True) if f.metadata["nan_on_disk"]]
    lists = frozenset(f.name for f in fs if str(f.type).startswith("list"))
    return frozenset(f.name for f in fs) - lists, lists


def disk_form(rec: dict[str, Any]) -> dict[str, Any]:
    """The record as rlaif has always handed it to the Parquet and Arrow writers, whose bytes depend on it: a
    missing value of a ``nan_on_disk`` field as NaN (the field itself, or an element of a list field), so files
    hold exactly the bytes they always did."""
    scalars, lists = _nan_on_disk()
    nan = float("nan")
    out = dict(rec)
    for k in scalars.intersection(rec):
        out[k] = nan if rec[k] is None else rec[k]
    for k in lists.intersection(rec):
        if isinstance(rec[k], list):
            out[k] = [nan if x is None else x for x in rec[k]]
    return out
