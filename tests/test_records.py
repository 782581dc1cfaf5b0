"""The record types are the one definition of the records: the README tables, the field lists and the Arrow
schema come from them; the codec reads files written before it with None for every missing value and writes
them back byte for byte; labelling the same pairs gives the same bytes as before."""

import importlib.util
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rlaif.core import records as R
from rlaif.core.schema import check_label_record, label_record
from rlaif.data.records import read_records, write_atomic
from rlaif.distributed.arrow import TYPES, from_table, to_table

ROOT = Path(__file__).resolve().parents[1]
MAIN = Path(__file__).parent / "data" / "main_written"
FILES = sorted(p.name for p in MAIN.iterdir() if p.suffix in (".jsonl", ".parquet"))


def test_readme_tables_are_made_from_the_record_types():
    readme = (ROOT / "README.md").read_text()
    for cls, inherited in [(R.PairRecord, True), (R.LabelRecord, False), (R.ScoreRecord, False)]:
        assert R.markdown_table(cls, inherited) in readme, f"README's {cls.__name__} table is out of date"


def test_arrow_types_are_the_record_types():
    for cls in R.ARROW_RECORDS:
        blank = R.to_dict(cls())
        table = to_table([blank])
        for f in R.record_fields(cls, True):
            if f.metadata["arrow"] is not None:
                assert table.schema.field(f.name).type == TYPES[f.name], (cls.__name__, f.name)
    shard = pq.read_table(MAIN / "labels.shard.parquet").schema  # written before the types existed
    assert {n: shard.field(n).type for n in shard.names if n in TYPES} == {n: TYPES[n] for n in shard.names if n in TYPES}


def test_a_field_only_later_rows_have_survives_the_table():
    error = {"id": "0", "p_a": None, "error": "identical responses: nothing to prefer"}
    sampled = {"id": "1", "p_a": 0.75, "error": None, "sample_counts": {"ab": [3, 1, 0]}, "samples_drawn": 4}
    assert from_table(to_table([error, sampled])) == [error, sampled]


def test_the_label_record_check_asks_for_every_field_of_the_type():
    rec = label_record({"id": "x", "prompt": "p", "response_a": "a", "response_b": "b"},
                       {"judge": "j", "constitution": "c", "template": "t", "config_hash": "h"}, error="none")
    check_label_record(rec, "f:1")
    for name in R.field_names(R.LabelRecord):
        with pytest.raises(ValueError, match=f"missing field '{name}'"):
            check_label_record({k: v for k, v in rec.items() if k != name}, "f:1")
    assert set(R.field_names(R.LabelRecord, optional=True)) - set(R.field_names(R.LabelRecord)) >= {"p_a_raw", "group"}


def test_dict_and_record_convert_both_ways_keeping_extra_keys():
    d = {"id": "x", "prompt": "p", "response": "r", "score": 7.5, "candidate": 2}
    rec = R.from_dict(R.ScoreRecord, d)
    assert rec.score == 7.5 and rec.error is None and rec.extra == {"candidate": 2}
    back = R.to_dict(rec)
    assert back["candidate"] == 2 and {k: back[k] for k in d} == d and list(back)[-1] == "candidate"


def test_one_missing_value_convention():
    nan = float("nan")
    assert R.settle({"p": nan, "l": [nan, 0.5, None], "s": "x"}) == {"p": None, "l": [None, 0.5, None], "s": "x"}
    assert R.is_missing(None) and R.is_missing(nan) and not R.is_missing(0.0) and not R.is_missing("")
    on_disk = R.disk_form({"p_a": None, "p_a_principles": [None, 0.2], "bt_scores": None, "human_label": None})
    assert math.isnan(on_disk["p_a"]) and math.isnan(on_disk["p_a_principles"][0]) and on_disk["p_a_principles"][1] == 0.2
    assert on_disk["bt_scores"] is None and on_disk["human_label"] is None


def _canonical(v):
    return "NaN" if isinstance(v, float) and math.isnan(v) else [_canonical(x) for x in v] if isinstance(v, list) else v


def assert_same_file(made: Path, before: Path) -> None:
    """Byte for byte; the one exception is a Ray shard's NaN sign: before, a calibrated label that failed was
    written as a negative NaN (torch's arithmetic on NaN), now as Python's NaN. Readers see None for both."""
    if made.read_bytes() == before.read_bytes():
        return
    assert before.name.endswith(".shard.parquet"), f"{made.name} differs from the file written before"
    a, b = pq.read_table(made), pq.read_table(before)
    assert a.schema.equals(b.schema, check_metadata=True)
    assert [[_canonical(v) for v in r.values()] for r in a.to_pylist()] == \
        [[_canonical(v) for v in r.values()] for r in b.to_pylist()]


def _no_nan(v):
    return not (isinstance(v, float) and math.isnan(v)) and (not isinstance(v, list) or all(map(_no_nan, v)))


@pytest.mark.parametrize("name", FILES)
def test_files_written_before_read_with_none_and_write_back_byte_identically(name, tmp_path):
    src = MAIN / name
    if name.endswith(".shard.parquet"):  # a Ray shard: the Arrow codec
        rows = from_table(pq.read_table(src))
        pq.write_table(to_table(rows), tmp_path / name)
    else:
        rows = read_records(src)
        write_atomic(tmp_path / name, rows)
    assert rows and all(_no_nan(v) for r in rows for v in r.values())
    if name.startswith("labels"):
        assert all((r["p_a"] is None) == bool(r["error"]) for r in rows)
        assert len({r["config_hash"] for r in rows}) == 1
    assert_same_file(tmp_path / name, src)


def test_labelling_the_same_pairs_gives_the_same_bytes_as_before(tmp_path):
    spec = importlib.util.spec_from_file_location("make_main_written", MAIN / "make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    make.main(tmp_path)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == FILES
    for name in made:
        assert_same_file(tmp_path / name, MAIN / name)
