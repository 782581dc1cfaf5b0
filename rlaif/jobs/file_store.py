"""The store of a local job: one JSONL or Parquet output file, appended to durably and resumed safely.

Work goes to ``OUTPUT`` itself for .jsonl outputs, or to ``OUTPUT.partial.jsonl`` for .parquet outputs
(converted with an atomic rename at the end). Every chunk is written with one write, flushed and fsynced,
so a kill loses at most the chunk in flight. Before anything is written, the existing output is read and
validated (``rlaif.jobs.outputs``): only a torn final line is cut, rows made with other settings
(``config_hash``) are refused, and other bad lines stop the job (or, with ``repair``, move to
``OUTPUT.rejected.jsonl``). Error records of invalid input rows are never counted as done.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rlaif.core.errors import RlaifError
from rlaif.core.schema import is_invalid_input
from rlaif.data.records import to_json_line, write_atomic
from rlaif.jobs.outputs import Existing, OutputLock, check_settings, move_bad_lines, refuse_bad, rewrite, scan_jsonl, \
    scan_table


def work_path(output: Path) -> Path:
    """Where rows are appended: the JSONL output itself, or ``OUTPUT.partial.jsonl`` for Parquet."""
    return output if output.suffix.lower() == ".jsonl" else output.with_name(output.name + ".partial.jsonl")


def check_output_path(output: str | Path, input_path: str | Path) -> Path:
    """The output as a Path, refused when it cannot be written or would overwrite the input."""
    output = Path(output)
    if output.suffix.lower() not in (".jsonl", ".parquet"):
        raise RlaifError(f"{output}: output must end in .jsonl or .parquet")
    if not output.parent.exists():
        raise RlaifError(f"{output}: folder {output.parent} does not exist")
    src = Path(input_path).resolve()
    for o in (output, work_path(output)):
        if o.resolve() == src or (o.exists() and src.exists() and os.path.samefile(o, src)):
            raise RlaifError(f"{output}: the output is the input file {input_path}; choose another -o")
    return output


def open_existing(output: Path, config_hash: str, repair: bool) -> tuple[Existing, list[dict[str, Any]]]:
    """Validate what the output already holds, then make the work file ready to append to.

    Returns the work file's state and the labelled rows (from the work file and, for Parquet, the
    finished file). Error records of invalid input rows are dropped: they are made afresh each run,
    so a fixed row is labelled and its error record does not linger.
    """
    work = work_path(output)
    ex = scan_jsonl(work)
    table = scan_table(output) if work != output else None
    check_settings(ex, config_hash)
    if table is not None:
        check_settings(table, config_hash)
    if not repair:
        refuse_bad(ex)
    moved = move_bad_lines(ex)  # nothing to move unless repairing
    keep = [not is_invalid_input(r) for r in ex.rows]
    if moved or not all(keep):
        rewrite(ex, keep)
    elif ex.torn_at is not None:
        with open(work, "r+b") as fh:
            fh.truncate(ex.torn_at)
        ex.torn_at = None
    rows = list(ex.rows)
    if table is not None:  # a row in both: killed between the Parquet rename and removing the partial
        in_work = {r["id"] for r in rows}
        rows = [r for r in table.rows if r["id"] not in in_work and not is_invalid_input(r)] + rows
    return ex, rows


class FileStore:
    """A job's rows in one output file (see the module doc); one writer at a time holds ``OUTPUT.lock``."""

    def __init__(self, output: str | Path, input_path: str | Path):
        self.output = check_output_path(output, input_path)
        self.work = work_path(self.output)
        self.done: list[dict[str, Any]] = []
        self.new: list[dict[str, Any]] = []
        self.ex: Existing | None = None
        self.fh = None
        self.order: dict[str, int] = {}

    def lock(self) -> OutputLock:
        return OutputLock(self.output)

    def open(self, config_hash: str, repair: bool) -> set[str]:
        self.ex, self.done = open_existing(self.output, config_hash, repair)
        return {r["id"] for r in self.done}

    def begin(self, order: dict[str, int], invalid: list[dict[str, Any]]) -> None:
        self.order = order
        if invalid:
            self.append(invalid)

    def append(self, rows: list[dict[str, Any]]) -> None:
        """One write, flushed and fsynced."""
        if self.fh is None:
            self.fh = open(self.work, "ab")
            if self.ex.needs_newline:
                self.fh.write(b"\n")
        self.fh.write("".join(to_json_line(r) for r in rows).encode("utf-8"))
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.new.extend(rows)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None

    def finish(self) -> None:
        self.close()
        if self.output != self.work:
            n = len(self.order)
            write_atomic(self.output, sorted(self.done + self.new, key=lambda r: self.order.get(r["id"], n)))
            self.work.unlink(missing_ok=True)

    def rows(self, columns: list[str] | None = None) -> list[dict[str, Any]]:
        """Every row the output holds now (``columns`` is a hint; whole rows are in memory already)."""
        return self.done + self.new
