"""Records as Arrow tables with one fixed type per known field, so that every batch and every shard of a
job has the same schema (an all-null or empty-list column would otherwise get a type of its own); the Arrow
side of the record codec (``rlaif.data.records``)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from rlaif.core.records import disk_form, field_types, optional_fields, settle

_STR, _F64 = pa.string(), pa.float64()
_NAMED = {"string": _STR, "float64": _F64, "int64": pa.int64(), "bool": pa.bool_(), "list<float64>": pa.list_(_F64),
          "list<string>": pa.list_(_STR), "messages": pa.list_(pa.struct([("role", _STR), ("content", _STR)]))}
# field name -> Arrow type, from the record types' ``arrow`` metadata
TYPES: dict[str, pa.DataType] = {name: _NAMED[t] for name, t in field_types().items()}


def _column(name: str, values: list[Any]) -> pa.Array:
    typ = TYPES.get(name)
    return pa.array(values) if typ is None else pa.array(values, type=typ)


def to_table(records: list[dict[str, Any]]) -> pa.Table:
    """The records as a table, columns in the order keys first appear (a field only later rows have, such as
    ``sample_counts`` after an error row, is kept), known fields typed by ``TYPES``."""
    names = list(dict.fromkeys(k for r in records for k in r)) or ["id"]
    rows = [disk_form(r) for r in records]
    return pa.table({n: _column(n, [r.get(n) for r in rows]) for n in names})


def from_table(table: pa.Table) -> list[dict[str, Any]]:
    """The table's rows as record dicts, a missing value (NaN or null) as None (``settle``); a null in an optional
    field (``p_a_raw``, ``group``, ...) is a row that lacked the field, so its record lacks it too (and writes back
    as the same null, where a missing value is NaN: see ``disk_form``)."""
    optional = optional_fields()
    return [settle({k: v for k, v in r.items() if v is not None or k not in optional}) for r in table.to_pylist()]
