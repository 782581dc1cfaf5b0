"""The record types are the one definition of the records: the README tables, the field lists and the Arrow
schema come from them."""

from pathlib import Path

import pytest

from rlaif.core import records as R
from rlaif.core.schema import check_label_record, label_record
from rlaif.distributed.arrow import TYPES, to_table

ROOT = Path(__file__).resolve().parents[1]


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
