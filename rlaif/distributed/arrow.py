"""Records as Arrow tables with one fixed type per known field, so that every batch and every shard of a
job has the same schema (an all-null or empty-list column would otherwise get a type of its own)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

_STR, _F64, _BOOL = pa.string(), pa.float64(), pa.bool_()
TYPES: dict[str, pa.DataType] = {
    "id": _STR, "prompt": _STR, "response_a": _STR, "response_b": _STR, "response": _STR, "human_label": _F64,
    "p_a": _F64, "p_a_first": _F64, "p_a_second": _F64, "consistent": _BOOL, "p_a_principles": pa.list_(_F64),
    "principles": pa.list_(_STR), "rationales": pa.list_(_STR), "truncated": _BOOL, "error": _STR,
    "judge": _STR, "constitution": _STR, "template": _STR, "config_hash": _STR,
    "score": _F64, "reward": _F64, "probs": pa.list_(_F64), "entropy": _F64,
    "messages": pa.list_(pa.struct([("role", _STR), ("content", _STR)])),
}


def _column(name: str, values: list[Any]) -> pa.Array:
    typ = TYPES.get(name)
    return pa.array(values) if typ is None else pa.array(values, type=typ)


def to_table(records: list[dict[str, Any]]) -> pa.Table:
    """The records as a table, columns in the first record's key order, known fields typed by ``TYPES``."""
    names = list(records[0]) if records else ["id"]
    return pa.table({n: _column(n, [r.get(n) for r in records]) for n in names})


def from_table(table: pa.Table) -> list[dict[str, Any]]:
    """The table's rows as record dicts (null as None, NaN as NaN: both survive the round trip)."""
    return table.to_pylist()
