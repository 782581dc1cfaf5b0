"""An output folder of Parquet shards: what it already holds (validated before anything is written), and
durable shard writes.

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
from rlaif.data.records import atomic_path
from rlaif.distributed.arrow import from_table, to_table

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
            raise RlaifError(f"{shard}: cannot read this shard ({e}); nothing was changed: re-run with --repair "
                             f"to move it to {out / 'rejected'}") from None
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
        rows.extend(from_table(pq.read_table(f, columns=columns)))
    return rows
