"""Reading inputs: JSONL (line by line, so errors name the line, including non-UTF-8 bytes), Parquet
and CSV (through pandas; CSV cells as text), and saved Hugging Face datasets, into records."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from rlaif.core.errors import RlaifError, where
from rlaif.data.normalise import normalise_row
from rlaif.data.records import jsonl_rows


@dataclass
class LoadResult:
    """Valid pair records, and the rows that could not be used as (row id, one-line reason)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)


def row_bytes(row: dict[str, Any]) -> bytes:
    """A row's content as canonical bytes (for content-hash ids of rows that have no id)."""
    return json.dumps(row, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")


def _read_table(path: Path, suffix: str):
    """Parquet through pandas; CSV with every cell as text (an answer "4" or "NA" stays a string),
    empty cells as missing."""
    import pandas as pd

    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        df = pd.read_csv(path, encoding="utf-8", dtype=str, keep_default_na=False)
        return df.replace("", None)
    except UnicodeDecodeError as e:
        raise RlaifError(f"{path}: bytes are not UTF-8 (at byte {e.start})") from None
    except Exception as e:
        raise RlaifError(f"{path}: cannot read {suffix[1:]} ({e})") from None


def iter_source_rows(path: str | Path, split: str | None = None) -> Iterator[tuple[str, dict[str, Any] | Exception, bytes]]:
    """Yield (location, raw row or the error reading it, the row's content as bytes) for every row
    of a file or saved dataset."""
    path = Path(path)
    if not path.exists():
        raise RlaifError(f"{path}: no such file or directory")
    suffix = path.suffix.lower()
    if path.is_dir():
        for i, row in enumerate(_load_dataset(path, split)):
            yield where(path, i + 1), row, row_bytes(row)
    elif suffix in (".jsonl", ".json", ".ndjson"):
        for _, loc, raw, row in jsonl_rows(path):
            yield loc, row, raw.rstrip(b"\r\n")
    elif suffix in (".parquet", ".csv"):
        df = _read_table(path, suffix)
        for i, row in enumerate(df.to_dict(orient="records")):
            row = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in row.items()}
            yield where(path, i + (2 if suffix == ".csv" else 1)), row, row_bytes(row)
    else:
        raise RlaifError(f"{path}: unknown input format '{suffix}' (use .jsonl, .parquet, .csv or a saved dataset)")


def _load_dataset(path: Path, split: str | None):
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:  # the library raises several types for a non-dataset folder
        raise RlaifError(f"{path}: not a saved Hugging Face dataset ({e})") from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            raise RlaifError(f"{path}: dataset has splits {list(ds)}; choose one with --split")
        if split not in ds:
            raise RlaifError(f"{path}: no split '{split}' (has {list(ds)})")
        ds = ds[split]
    return ds


def invalid_id(raw: bytes, occurrence: int = 0) -> str:
    """Id of an input row that could not be used: a hash of its content (not of its position), so
    that its error record is recognised on every run and replaced once the row is fixed;
    ``occurrence`` tells identical bad rows apart."""
    digest = hashlib.sha256(raw + b"\x1f" + str(occurrence).encode()).hexdigest()[:16]
    return f"invalid-{digest}"


def load_pairs(path: str | Path, *, limit: int | None = None, split: str | None = None,
               normalise=normalise_row) -> LoadResult:
    """Load up to ``limit`` rows of ``path`` as pair records (or, with ``normalise=normalise_single``,
    single-response records); bad rows go to ``invalid`` as (``invalid_id``, reason)."""
    out = LoadResult()
    seen: dict[str, str] = {}
    bad_seen: dict[bytes, int] = {}
    for index, (loc, row, raw) in enumerate(iter_source_rows(path, split)):
        if limit is not None and index >= limit:
            break
        try:
            if isinstance(row, Exception):
                raise row
            made = normalise(row, index, loc)  # one record, or several (a candidate row's pairs)
            made = made if isinstance(made, list) else [made]
            for rec in made:
                if rec["id"] in seen:
                    raise ValueError(f"{loc} field 'id' = {rec['id']!r} repeats {seen[rec['id']]}")
            for rec in made:
                seen[rec["id"]] = loc
            out.records.extend(made)
        except ValueError as e:
            bad_seen[raw] = bad_seen.get(raw, -1) + 1
            out.invalid.append((invalid_id(raw, bad_seen[raw]), str(e)))
    return out


def records_from_rows(rows: Iterable[dict[str, Any]], source: str = "<rows>") -> list[dict[str, Any]]:
    """Normalise in-memory rows (e.g. a live training batch); raises RlaifError on the first bad row."""
    try:
        return [normalise_row(dict(r), i, where(source, i + 1)) for i, r in enumerate(rows)]
    except ValueError as e:
        raise RlaifError(str(e)) from None
