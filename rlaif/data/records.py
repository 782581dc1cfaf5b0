"""rlaif's own record files (.jsonl and .parquet), the codec at the I/O boundary: the JSONL line reader,
strict-JSON lines, atomic writes, and reading records back with schema and repeated-id checks. Records come
out with a missing value as None (``rlaif.core.records.settle``) and go in with the bytes rlaif always wrote
(``disk_form``)."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from rlaif.core.errors import RlaifError, where
from rlaif.core.records import disk_form, settle
from rlaif.data.jsonstrict import problem


def _json_error(loc: str, e: json.JSONDecodeError) -> ValueError:
    # json's messages may end in "at" ("Unterminated string starting at"): say the column once
    msg = e.msg[:-3] if e.msg.endswith(" at") else e.msg
    return ValueError(f"{loc}: not valid JSON ({msg} at column {e.colno})")


def jsonl_rows(path: Path) -> Iterator[tuple[int, str, bytes, dict[str, Any] | Exception]]:
    """(line number, location, raw line, object or the error reading it) for each non-blank line."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            loc = where(path, lineno)
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield lineno, loc, raw, ValueError(f"{loc}: bytes are not UTF-8 (at byte {e.start} of the line)")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                yield lineno, loc, raw, _json_error(loc, e)
                continue
            if not isinstance(obj, dict):
                yield lineno, loc, raw, ValueError(f"{loc}: expected a JSON object, got {type(obj).__name__}")
                continue
            if (bad := problem(obj, root=loc, non_finite=False)) is not None:  # "\ud800": no UTF-8 can hold it
                yield lineno, loc, raw, ValueError(bad)
                continue
            yield lineno, loc, raw, obj


# a record as strict JSON wants it (no NaN): the records' one missing-value convention, None
strict_json = settle


def to_json_line(rec: dict[str, Any]) -> str:
    """Serialise a record as one JSON line, writing NaN as null (strict JSON)."""
    return json.dumps(strict_json(rec), ensure_ascii=False) + "\n"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[str]:
    """A temporary file (``.NAME.*.tmp``) next to ``path`` for the caller to write; when the block ends
    without an error it is fsynced, given the usual permissions (0666 less the umask, not the temporary
    file's 0600), renamed over ``path`` and the folder fsynced: the file is whole or absent."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        dirfd = os.open(path.parent or ".", os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: str | Path, records: list[dict[str, Any]], columns: Iterable[str] | None = None) -> None:
    """Write records to ``path`` (.jsonl or .parquet) through ``atomic_path``; ``columns`` gives an empty
    Parquet file its schema."""
    with atomic_path(path) as tmp:
        if Path(path).suffix.lower() == ".parquet":
            import pandas as pd

            cols = list(columns) if columns is not None and not records else None
            pd.DataFrame.from_records([disk_form(r) for r in records], columns=cols).to_parquet(tmp, index=False)
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.writelines(to_json_line(r) for r in records)


def _read_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(location, row) for every row of a .jsonl or .parquet file written by rlaif, or of a folder of
    Parquet shards written by the Ray engine (its shards in name order, then its invalid rows)."""
    if path.is_dir():
        shards = sorted(path.glob("part-*.parquet")) + sorted(path.glob("invalid.parquet"))
        if not shards:
            raise RlaifError(f"{path}: a folder without rlaif shards (part-*.parquet)")
        return [row for shard in shards for row in _read_rows(shard)]
    if path.suffix.lower() == ".parquet":
        import pandas as pd

        rows = pd.read_parquet(path).to_dict(orient="records")
        return [(where(path, i + 1), {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in r.items()})
                for i, r in enumerate(rows)]
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        out = []
        for _, loc, _, row in jsonl_rows(path):
            if isinstance(row, Exception):
                raise RlaifError(str(row))
            out.append((loc, row))
        return out
    raise RlaifError(f"{path}: expected a .jsonl or .parquet file written by rlaif")


def read_records(path: str | Path, check: Callable[[dict[str, Any], str], None] | None = None,
                 unique_ids: bool = False) -> list[dict[str, Any]]:
    """Read records written by rlaif (.jsonl or .parquet), with a missing value as None (``settle``).

    ``check(record, where)`` (e.g. ``schema.check_label_record``) validates each row; a bad row
    raises RlaifError naming the file, row and field. With ``unique_ids`` a repeated ``id`` is an
    error too (a row counted twice would skew every figure computed from the file).
    """
    path = Path(path)
    if not path.exists():
        raise RlaifError(f"{path}: no such file")
    rows = []
    first: dict[Any, str] = {}
    for loc, r in _read_rows(path):
        r = settle(r)
        if check is not None:
            try:
                check(r, loc)
            except ValueError as e:
                raise RlaifError(str(e)) from None
        if unique_ids and r.get("id") is not None:
            if r["id"] in first:
                raise RlaifError(f"{loc}: id {r['id']!r} repeats line {first[r['id']].rsplit(':', 1)[1]}; the file "
                                 f"holds a row twice (repair it with 'rlaif label INPUT -o {path} --repair')")
            first[r["id"]] = loc
        rows.append(r)
    return rows
