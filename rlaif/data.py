"""Reading pair data in every supported format into the pair-record schema (see ``rlaif.core.schema``),
and writing label records.

Accepted row shapes (detected per row):

* ``prompt, response_a, response_b`` (optional ``human_label``: 1/0, "a"/"b", or null);
* TRL preference rows ``prompt, chosen, rejected`` (strings or conversational message lists),
  and TRL implicit-prompt rows ``chosen, rejected`` whose shared prefix is the prompt;
* HH-RLHF transcripts: ``chosen``/``rejected`` strings of "\\n\\nHuman: ... \\n\\nAssistant: ..." turns
  that differ only in the final Assistant turn.

Sources: JSONL (read line by line so that errors name the line, including non-UTF-8 bytes), Parquet
and CSV (through pandas), and a directory saved with ``datasets.Dataset.save_to_disk``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from rlaif.core.errors import RlaifError, where

_TURN = re.compile(r"\n\n(Human|Assistant):")


@dataclass
class LoadResult:
    """Valid pair records, and the rows that could not be used as (row id, one-line reason)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)


def _text(value: Any, loc: str, fname: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"{loc} field '{fname}' is missing")
    if not isinstance(value, str):
        raise ValueError(f"{loc} field '{fname}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{loc} field '{fname}' is empty")
    return value


def _is_messages(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(m, dict) and "role" in m for m in value)


def flatten_messages(messages: Iterable[dict[str, Any]]) -> str:
    """Render chat messages as "User: ...\\n\\nAssistant: ..." text for the judge's prompt."""
    names = {"user": "User", "assistant": "Assistant", "system": "System"}
    return "\n\n".join(f"{names.get(m['role'], m['role'].title())}: {str(m.get('content', '')).strip()}"
                       for m in messages)


def parse_hh(transcript: str) -> list[dict[str, str]]:
    """Split an HH-RLHF transcript into messages; raises ValueError if it has no turn markers."""
    parts = _TURN.split(transcript)
    if len(parts) < 3 or parts[0].strip():
        raise ValueError("not an HH-RLHF transcript (expected '\\n\\nHuman: ...' turns)")
    return [{"role": "user" if r == "Human" else "assistant", "content": c.strip()}
            for r, c in zip(parts[1::2], parts[2::2])]


def _split_conversation(msgs: list[dict[str, Any]], loc: str, fname: str) -> tuple[list, str]:
    if not msgs or msgs[-1].get("role") != "assistant":
        raise ValueError(f"{loc} field '{fname}' must end with an assistant turn")
    return list(msgs[:-1]), _text(msgs[-1].get("content"), loc, fname)


def _human_label(value: Any, loc: str) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    mapping = {"a": 1.0, "b": 0.0, "1": 1.0, "0": 0.0}
    if isinstance(value, str) and value.strip().lower() in mapping:
        return mapping[value.strip().lower()]
    if isinstance(value, str):  # CSV cells are text: "0.25" is a probability
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0:
        return float(value)
    raise ValueError(f"{loc} field 'human_label' = {value!r} is not 1/0, 'a'/'b' or a probability")


def _row_id(row: dict[str, Any], index: int) -> str:
    """The row's ``id`` column as a string, or "row-N" (0-based position in the source) when absent."""
    rid = row.get("id")
    missing = rid is None or (isinstance(rid, float) and math.isnan(rid))
    return f"row-{index}" if missing else str(rid)


def normalise_row(row: dict[str, Any], index: int, loc: str) -> dict[str, Any]:
    """Turn one source row into a pair record; raises ValueError naming ``loc`` and the field."""
    rid = _row_id(row, index)
    if "response_a" in row or "response_b" in row:
        prompt = row.get("prompt")
        prompt = flatten_messages(prompt) if _is_messages(prompt) else _text(prompt, loc, "prompt")
        rec = {"prompt": prompt, "response_a": _text(row.get("response_a"), loc, "response_a"),
               "response_b": _text(row.get("response_b"), loc, "response_b"),
               "human_label": _human_label(row.get("human_label"), loc)}
    elif "chosen" in row or "rejected" in row:
        chosen, rejected = row.get("chosen"), row.get("rejected")
        if _is_messages(chosen) and _is_messages(rejected):
            ctx_c, a = _split_conversation(list(chosen), loc, "chosen")
            ctx_r, b = _split_conversation(list(rejected), loc, "rejected")
            prompt = row.get("prompt")
            if prompt is not None:
                ctx = list(prompt) if _is_messages(prompt) else [{"role": "user", "content": _text(prompt, loc, "prompt")}]
                ctx_c, ctx_r = ctx + ctx_c, ctx + ctx_r
            if ctx_c != ctx_r:
                raise ValueError(f"{loc} fields 'chosen'/'rejected' have different conversation contexts")
            if not ctx_c:
                raise ValueError(f"{loc} field 'prompt' is missing (no conversation before the responses)")
            prompt = flatten_messages(ctx_c)
        else:
            chosen = _text(chosen, loc, "chosen")
            rejected = _text(rejected, loc, "rejected")
            if row.get("prompt") is not None:
                prompt = row["prompt"]
                prompt = flatten_messages(prompt) if _is_messages(prompt) else _text(prompt, loc, "prompt")
                a, b = chosen, rejected
            elif chosen.startswith("\n\nHuman:"):
                mc, mr = parse_hh(chosen), parse_hh(rejected)
                ctx_c, a = _split_conversation(mc, loc, "chosen")
                ctx_r, b = _split_conversation(mr, loc, "rejected")
                if ctx_c != ctx_r:
                    raise ValueError(f"{loc} fields 'chosen'/'rejected' have different conversation contexts")
                prompt = flatten_messages(ctx_c)
            else:
                n = len(os.path.commonprefix([chosen, rejected]))
                prompt, a, b = chosen[:n], chosen[n:], rejected[n:]
                prompt = _text(prompt, loc, "prompt")
                a, b = _text(a, loc, "chosen"), _text(b, loc, "rejected")
        if chosen_in_slot_b(prompt, a, b):
            a, b, human = b, a, 0.0
        else:
            human = 1.0
        rec = {"prompt": prompt, "response_a": a, "response_b": b, "human_label": human}
    else:
        raise ValueError(f"{loc}: no 'response_a'/'response_b' or 'chosen'/'rejected' fields "
                         f"(found: {', '.join(sorted(row)) or 'none'})")
    return {"id": rid, **rec}


def chosen_in_slot_b(prompt: str, chosen: str, rejected: str) -> bool:
    """Whether a chosen/rejected row puts ``chosen`` in response_b: a hash of the content, so about
    half the rows each way, the same on every run, and human_label is never constant (which would
    make kappa and calibration against humans meaningless)."""
    digest = hashlib.sha256("\x1f".join((prompt, chosen, rejected)).encode("utf-8")).digest()
    return bool(digest[0] & 1)


def _json_error(loc: str, e: json.JSONDecodeError) -> ValueError:
    # json's messages may end in "at" ("Unterminated string starting at"): say the column once
    msg = e.msg[:-3] if e.msg.endswith(" at") else e.msg
    return ValueError(f"{loc}: not valid JSON ({msg} at column {e.colno})")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, str, bytes, dict[str, Any] | Exception]]:
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
            yield lineno, loc, raw, obj


def _row_bytes(row: dict[str, Any]) -> bytes:
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
            yield where(path, i + 1), row, _row_bytes(row)
    elif suffix in (".jsonl", ".json", ".ndjson"):
        for _, loc, raw, row in _jsonl_rows(path):
            yield loc, row, raw.rstrip(b"\r\n")
    elif suffix in (".parquet", ".csv"):
        df = _read_table(path, suffix)
        for i, row in enumerate(df.to_dict(orient="records")):
            row = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in row.items()}
            yield where(path, i + (2 if suffix == ".csv" else 1)), row, _row_bytes(row)
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


def normalise_single(row: dict[str, Any], index: int, loc: str) -> dict[str, Any]:
    """A single-response record for scoring: ``id, prompt, response`` (``completion`` is accepted for
    ``response``; either may be a conversational message list)."""
    rid = _row_id(row, index)
    prompt = row.get("prompt")
    prompt = flatten_messages(prompt) if _is_messages(prompt) else _text(prompt, loc, "prompt")
    key = "response" if "response" in row or "completion" not in row else "completion"
    resp = row.get(key)
    if _is_messages(resp):
        resp = resp[-1].get("content") if len(resp) else None
    return {"id": rid, "prompt": prompt, "response": _text(resp, loc, key)}


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
            rec = normalise(row, index, loc)
            if rec["id"] in seen:
                raise ValueError(f"{loc} field 'id' = {rec['id']!r} repeats {seen[rec['id']]}")
            seen[rec["id"]] = loc
            out.records.append(rec)
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


def to_json_line(rec: dict[str, Any]) -> str:
    """Serialise a record as one JSON line, writing NaN as null (strict JSON)."""
    def fix(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    return json.dumps({k: fix(v) for k, v in rec.items()}, ensure_ascii=False) + "\n"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, records: list[dict[str, Any]], columns: Iterable[str] | None = None) -> None:
    """Write records to ``path`` (.jsonl or .parquet) via a temporary file and an atomic rename.

    The file gets the usual permissions (0666 less the umask, not the temporary file's 0600);
    ``columns`` gives an empty Parquet file its schema.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if path.suffix.lower() == ".parquet":
            import pandas as pd

            cols = list(columns) if columns is not None and not records else None
            pd.DataFrame.from_records(records, columns=cols).to_parquet(tmp, index=False)
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.writelines(to_json_line(r) for r in records)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(location, row) for every row of a .jsonl or .parquet file written by rlaif."""
    if path.suffix.lower() == ".parquet":
        import pandas as pd

        rows = pd.read_parquet(path).to_dict(orient="records")
        return [(where(path, i + 1), {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in r.items()})
                for i, r in enumerate(rows)]
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        out = []
        for _, loc, _, row in _jsonl_rows(path):
            if isinstance(row, Exception):
                raise RlaifError(str(row))
            out.append((loc, row))
        return out
    raise RlaifError(f"{path}: expected a .jsonl or .parquet file written by rlaif")


def read_records(path: str | Path, check: Callable[[dict[str, Any], str], None] | None = None,
                 unique_ids: bool = False) -> list[dict[str, Any]]:
    """Read records written by rlaif (.jsonl or .parquet); nulls in p_* become NaN.

    ``check(record, where)`` (e.g. ``schema.check_label_record``) validates each row; a bad row
    raises RlaifError naming the file, row and field. With ``unique_ids`` a repeated ``id`` is an
    error too (a row counted twice would skew every figure computed from the file).
    """
    path = Path(path)
    if not path.is_file():
        raise RlaifError(f"{path}: no such file")
    rows = []
    first: dict[Any, str] = {}
    for loc, r in _read_rows(path):
        for k in ("p_a", "p_a_first", "p_a_second"):
            if k in r and r[k] is None:
                r[k] = float("nan")
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
