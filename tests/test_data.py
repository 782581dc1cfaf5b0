import json

import pandas as pd
import pytest

from rlaif.data import load_pairs, read_records, records_from_rows, write_atomic
from rlaif.core.errors import RlaifError

from conftest import write_jsonl


def test_hh_transcripts_split_into_context_and_final_turns(hh_rows, tmp_path):
    res = load_pairs(write_jsonl(tmp_path / "hh.jsonl", hh_rows[:20]))

    def res_path(d):
        return d / "hh.jsonl"
    assert not res.invalid and len(res.records) == 20
    r = res.records[0]
    chosen = r["response_a"] if r["human_label"] == 1.0 else r["response_b"]
    rejected = r["response_b"] if r["human_label"] == 1.0 else r["response_a"]
    assert r["id"] == "row-0"
    assert r["prompt"].startswith("User: ") and r["prompt"].rstrip().endswith("not have anything to do with pens")
    assert hh_rows[0]["chosen"].rstrip().endswith(chosen) and "Assistant:" not in chosen
    assert hh_rows[0]["rejected"].rstrip().endswith(rejected)
    # chosen lands in either slot, by a stable hash: human labels are not constant
    labels = [x["human_label"] for x in res.records]
    assert 0.0 in labels and 1.0 in labels and labels == [x["human_label"] for x in load_pairs(res_path(tmp_path)).records]


def test_trl_formats(tmp_path):
    rows = [
        {"prompt": "Q?", "chosen": "yes", "rejected": "no"},
        {"prompt": [{"role": "user", "content": "Q?"}], "chosen": [{"role": "assistant", "content": "yes"}],
         "rejected": [{"role": "assistant", "content": "no"}]},
        {"chosen": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "yes"}],
         "rejected": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "no"}]},
        {"chosen": "Q? The answer is yes", "rejected": "Q? The answer is no"},
        {"id": "x7", "prompt": "Q?", "response_a": "no", "response_b": "yes", "human_label": "b"},
    ]
    res = load_pairs(write_jsonl(tmp_path / "t.jsonl", rows))
    assert not res.invalid
    def chosen_rejected(r):
        return (r["prompt"],) + ((r["response_a"], r["response_b"]) if r["human_label"] == 1.0
                                 else (r["response_b"], r["response_a"]))

    got = [chosen_rejected(r) for r in res.records]
    assert got[0] == ("Q?", "yes", "no")
    assert got[1] == ("User: Q?", "yes", "no") == got[2]
    assert got[3] == ("Q? The answer is ", "yes", "no")
    assert res.records[4]["human_label"] == 0.0
    assert res.records[4]["response_a"] == "no" and res.records[4]["id"] == "x7"


@pytest.mark.parametrize("fmt", ["parquet", "csv", "dataset"])
def test_other_sources(tmp_path, fmt):
    df = pd.DataFrame({"prompt": ["p1", "p2"], "response_a": ["a1", "a2"], "response_b": ["b1", "b2"]})
    if fmt == "parquet":
        path = tmp_path / "x.parquet"
        df.to_parquet(path)
    elif fmt == "csv":
        path = tmp_path / "x.csv"
        df.to_csv(path, index=False)
    else:
        import datasets

        path = tmp_path / "ds"
        datasets.Dataset.from_pandas(df).save_to_disk(str(path))
    res = load_pairs(path)
    assert [r["response_b"] for r in res.records] == ["b1", "b2"] and not res.invalid


def test_bad_rows_name_line_and_field(tmp_path):
    p = tmp_path / "bad.jsonl"
    lines = [json.dumps({"prompt": "p", "response_a": "a", "response_b": "b"}).encode(),
             json.dumps({"prompt": "p", "response_a": "a"}).encode(),
             json.dumps({"prompt": "p", "response_a": "  ", "response_b": "b"}).encode(),
             b'{"prompt": "caf\xe9", "response_a": "a", "response_b": "b"}',
             b'{"prompt": "p", ',
             json.dumps({"chosen": "\n\nHuman: a\n\nAssistant: x", "rejected": "\n\nHuman: b\n\nAssistant: y"}).encode(),
             json.dumps({"foo": 1}).encode(),
             json.dumps({"id": "row-0", "prompt": "p", "response_a": "a", "response_b": "b"}).encode()]
    p.write_bytes(b"\n".join(lines) + b"\n")
    res = load_pairs(p)
    assert len(res.records) == 1
    msgs = [m for _, m in res.invalid]
    assert msgs[0] == f"{p}:2 field 'response_b' is missing"
    assert msgs[1] == f"{p}:3 field 'response_a' is empty"
    assert msgs[2].startswith(f"{p}:4: bytes are not UTF-8")
    assert msgs[3].startswith(f"{p}:5: not valid JSON")
    assert "different conversation contexts" in msgs[4] and f"{p}:6" in msgs[4]
    assert msgs[5].startswith(f"{p}:7: no 'response_a'") and "foo" in msgs[5]
    assert "field 'id' = 'row-0' repeats" in msgs[6]


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(RlaifError, match="no such file"):
        load_pairs(tmp_path / "nope.jsonl")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(RlaifError, match="unknown input format"):
        load_pairs(tmp_path / "x.txt")


def test_records_from_live_rows_and_roundtrip(tmp_path):
    recs = records_from_rows([{"prompt": "p", "chosen": "a", "rejected": "b"}])
    assert {recs[0]["response_a"], recs[0]["response_b"]} == {"a", "b"}
    assert recs[0]["response_a" if recs[0]["human_label"] == 1.0 else "response_b"] == "a"
    with pytest.raises(RlaifError, match=r"<rows>:1 field 'rejected' is missing"):
        records_from_rows([{"prompt": "p", "chosen": "a"}])
    rows = [{"id": "1", "p_a": float("nan"), "error": "x"}, {"id": "2", "p_a": 0.25, "error": None}]
    for ext in ("jsonl", "parquet"):
        write_atomic(tmp_path / f"o.{ext}", rows)
        back = read_records(tmp_path / f"o.{ext}")
        assert back[1]["p_a"] == 0.25 and back[0]["p_a"] is None  # a missing label reads as None
    assert "NaN" not in (tmp_path / "o.jsonl").read_text()  # strict JSON: null


def test_dataset_dict_needs_a_split(tmp_path):
    import datasets

    rows = [{"prompt": "p", "response_a": "a", "response_b": "b"}]
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows * 2),
                          "test": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(RlaifError, match=r"has splits \['train', 'test'\]; choose one with --split"):
        load_pairs(tmp_path / "dd")
    with pytest.raises(RlaifError, match="no split 'dev'"):
        load_pairs(tmp_path / "dd", split="dev")
    assert len(load_pairs(tmp_path / "dd", split="train").records) == 2
