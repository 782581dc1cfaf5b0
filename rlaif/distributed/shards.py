"""The store of a Ray job: an output folder of Parquet shards, what it already holds (validated before
anything is written), and durable shard writes.

``OUTPUT_DIR/part-<position>-<digest>.parquet`` holds labelled rows: <position> is the input position of
the shard's first row and <digest> a hash of its ids, so the same run writes the same names. Each shard is
written through ``rlaif.data.records.atomic_path``, so a shard is whole or absent.
``OUTPUT_DIR/invalid.parquet`` holds the error records of invalid input rows; it is rewritten on every
run (invalid rows are never counted as done, so a fixed row gets labelled).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from rlaif.core.errors import RlaifError
from rlaif.jobs.hints import SettingNeeded, braces as _braces
from rlaif.data.records import atomic_path
from rlaif.distributed.arrow import from_table, to_table
from rlaif.jobs.outputs import OutputLock

SHARDS = "part-*.parquet"
INVALID = "invalid.parquet"


def check_output_dir(output: str | Path, input_path: str | Path) -> Path:
    """The output folder, created if missing; refused when it is a file or its parent does not exist."""
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise RlaifError(f"{out}: --engine ray writes a folder of Parquet shards, and this is a file; choose "
                         "another -o")
    if not out.parent.exists():
        raise RlaifError(f"{out}: folder {out.parent} does not exist")
    if Path(input_path).resolve() == out.resolve():
        raise RlaifError(f"{out}: the output is the input; choose another -o")
    out.mkdir(exist_ok=True)
    return out


def _reject(out: Path, shard: Path) -> Path:
    dest = out / "rejected"
    dest.mkdir(exist_ok=True)
    os.replace(shard, dest / shard.name)
    return dest / shard.name


def scan(out: Path, config_hash: str, repair: bool = False) -> dict[str, str]:
    """The ids already labelled in ``out`` (id -> shard name), after checking every shard: unreadable
    shards stop the run (``repair`` moves them to ``OUTPUT_DIR/rejected/``), rows made with other
    settings or an id in two shards stop it too. Leftover temporary files of a killed run are removed."""
    for tmp in out.glob(".*.tmp"):  # atomic_path's temporary files
        tmp.unlink()
    done: dict[str, str] = {}
    for shard in sorted(out.glob(SHARDS)):
        try:
            table = pq.read_table(shard, columns=["id", "config_hash"])
        except Exception as e:  # pyarrow raises several types for a damaged file
            if repair:
                _reject(out, shard)
                continue
            raise SettingNeeded(_braces(f"{shard}: cannot read this shard ({e}); nothing was changed: ") + "{how} "
                                + _braces(f"to move it to {out / 'rejected'}"), "repair") from None
        for rid, h in zip(table.column("id").to_pylist(), table.column("config_hash").to_pylist()):
            if h != config_hash:
                raise RlaifError(f"{shard}: id {rid!r} was written with other settings (config_hash {h} != "
                                 f"{config_hash}); use another -o to start afresh")
            if rid in done:
                raise RlaifError(f"{shard}: id {rid!r} is also in {done[rid]}; the folder holds a row twice "
                                 "(remove one of the two shards)")
            done[rid] = shard.name
    return done


def write_table_atomic(path: Path, records: list[dict[str, Any]]) -> None:
    """Write records as one Parquet file with fixed column types, whole or not at all (``atomic_path``)."""
    with atomic_path(path) as tmp:
        pq.write_table(to_table(records), tmp)


def shard_name(position: int, ids: list[str]) -> str:
    digest = hashlib.sha256("\x1f".join(ids).encode("utf-8")).hexdigest()[:12]
    return f"part-{position:09d}-{digest}.parquet"


def write_shard(out: Path, records: list[dict[str, Any]], position: int) -> str:
    """Write one shard of labelled rows whose first row is at input ``position``; returns its name."""
    name = shard_name(position, [r["id"] for r in records])
    write_table_atomic(out / name, records)
    return name


def write_invalid(out: Path, records: list[dict[str, Any]]) -> None:
    """Replace the error records of invalid input rows (or remove the file when there are none)."""
    if records:
        write_table_atomic(out / INVALID, records)
    else:
        (out / INVALID).unlink(missing_ok=True)


def read_dir(out: str | Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """Every record of an output folder: the shards in name order, then the invalid rows."""
    out = Path(out)
    files = sorted(out.glob(SHARDS)) + ([out / INVALID] if (out / INVALID).exists() else [])
    rows: list[dict[str, Any]] = []
    for f in files:
        names = pq.read_schema(f).names
        rows.extend(from_table(pq.read_table(f, columns=columns and [c for c in columns if c in names])))
    return rows


class ShardStore:
    """A job's rows in a shard folder (``rlaif.jobs.runner.Store``): rows are buffered and written as shards of
    ``shard_rows``, each named by the input position of its first row."""

    def __init__(self, output: str | Path, input_path: str | Path, shard_rows: int):
        self.output = check_output_dir(output, input_path)
        self.shard_rows = shard_rows
        self.order: dict[str, int] = {}
        self.buf: list[dict[str, Any]] = []

    def lock(self) -> OutputLock:
        return OutputLock(self.output)

    def open(self, config_hash: str, repair: bool) -> set[str]:
        return set(scan(self.output, config_hash, repair))

    def begin(self, order: dict[str, int], invalid: list[dict[str, Any]]) -> None:
        self.order = order
        write_invalid(self.output, invalid)

    def append(self, rows: list[dict[str, Any]]) -> None:
        self.buf.extend(rows)
        while len(self.buf) >= self.shard_rows:
            self._flush(self.shard_rows)

    def _flush(self, n: int) -> None:
        part, self.buf = self.buf[:n], self.buf[n:]
        write_shard(self.output, part, self.order[part[0]["id"]])

    def close(self) -> None:
        self.buf = []  # rows not in a shard are not stored: a re-run does them again

    def finish(self) -> None:
        if self.buf:
            self._flush(len(self.buf))

    def rows(self, columns: list[str] | None = None) -> list[dict[str, Any]]:
        """Every row of the folder, only ``columns`` of them where the shards have them."""
        return read_dir(self.output, columns=columns)
