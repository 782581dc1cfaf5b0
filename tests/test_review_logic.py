"""The review UI's server-side logic without a browser: filters and paging over a large job, reviewer
labels in the database, agreement with its interval and the labels needed for ±5%."""

from __future__ import annotations

import random
import time

import pytest

from rlaif.core.prefs import agrees, confidence
from rlaif.service.browse import PAGE, PairFilter, select
from rlaif.service.reviews import ReviewStore, agreement, as_human_rows, needed_for_margin, report, sample_ids, wilson


def rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = rng.random() if i % 50 else None
        out.append({"id": f"r{i}", "prompt": f"prompt {i}" + (" needle" if i % 1000 == 7 else ""),
                    "response_a": "a", "response_b": "b", "p_a": p, "human_label": float(rng.random() < 0.5),
                    "consistent": None if p is None else rng.random() < 0.7, "principles": [["x", "y"][i % 2]],
                    "error": None if p is not None else "judge failed"})
    return out


def test_filters_and_paging_match_a_brute_force_count_on_100k_rows():
    data = rows(100_000)
    t = time.perf_counter()
    page, total = select(data, PairFilter(disagree=True, conf_min=0.5, principle="x", sort="-confidence", page=3))
    took = time.perf_counter() - t
    want = [r for r in data if agrees(r["p_a"], r["human_label"]) is False
            and confidence(r["p_a"]) >= 0.5 and r["principles"] == ["x"]]
    assert total == len(want) and len(page) == PAGE
    confs = [confidence(r["p_a"]) for r in page]
    assert confs == sorted(confs, reverse=True)
    assert confs[0] <= sorted((confidence(r["p_a"]) for r in want), reverse=True)[2 * PAGE]
    assert select(data, PairFilter(errors=True))[1] == 2000
    assert select(data, PairFilter(inconsistent=True))[1] == sum(r["consistent"] is False for r in data)
    assert select(data, PairFilter(q="NEEDLE"))[1] == 100
    assert select(data, PairFilter(page=10_000))[0] == []
    print(f"one filtered, sorted page of 100k rows: {took * 1000:.0f} ms")


def test_reviews_replace_only_the_reviewers_own_label(tmp_path):
    store = ReviewStore(tmp_path / "db.sqlite")
    store.put("j", "p1", "alice", 1.0)
    store.put("j", "p1", "bob", 0.0)
    store.put("j", "p1", "alice", 0.5)
    store.put("other", "p1", "alice", 0.0)
    assert store.of_job("j", "alice") == {"p1": 0.5} and store.of_job("j", "bob") == {"p1": 0.0}
    assert store.of_job("j") in ({"p1": 0.5}, {"p1": 0.0}) and store.of_job("other") == {"p1": 0.0}
    assert store.by_reviewer("j") == {"alice": {"p1": 0.5}, "bob": {"p1": 0.0}}


def test_agreement_interval_and_labels_needed():
    job = [{"id": f"p{i}", "p_a": p} for i, p in enumerate([0.9, 0.2, 0.7, 0.5, None, 0.6])]
    stats = agreement(job, {"p0": 1.0, "p1": 1.0, "p2": 1.0, "p3": 1.0, "p4": 0.0, "p5": 0.5, "gone": 1.0})
    assert (stats["reviewed"], stats["decided"], stats["agree"], stats["ties"]) == (6, 3, 2, 1)
    assert stats["agreement"] == pytest.approx(2 / 3) and stats["ci95"] == pytest.approx(list(wilson(2, 3)))
    assert needed_for_margin(0.5) == 385 and needed_for_margin(0.9) == 139 and needed_for_margin(None) == 385
    lo, hi = wilson(80, 100)
    assert lo == pytest.approx(0.7111, abs=1e-4) and hi == pytest.approx(0.8666, abs=1e-4)
    one = agreement(job, {"p0": 1.0})  # one unanimous label: the interval still holds 1/2, so plan for it
    assert one["agreement"] == 1.0 and one["needed_for_5pct"] == 385
    many = agreement([{"id": f"q{i}", "p_a": 0.9} for i in range(400)], {f"q{i}": float(i % 10 != 0) for i in range(400)})
    assert many["agreement"] == 0.9 and 139 < many["needed_for_5pct"] < 190  # planned at the interval's low end
    assert as_human_rows(job, {"ann": {"p0": 1.0, "gone": 0.0}, "bob": {"p0": 0.0}}) == [
        {"id": "p0", "human_label": 1.0, "reviewer": "ann"}, {"id": "p0", "human_label": 0.0, "reviewer": "bob"}]
    assert as_human_rows(job, {"ann": {"p0": 1.0}, "bob": {"p0": 0.0}}, "bob") == [
        {"id": "p0", "human_label": 0.0, "reviewer": "bob"}]


def test_the_review_sample_is_seeded():
    ids = [f"p{i}" for i in range(500)]
    a = sample_ids(ids, 20, seed=0)
    assert a == sample_ids(ids, 20, seed=0) and a != sample_ids(ids, 20, seed=1)
    assert len(set(a)) == 20 and set(a) <= set(ids) and sample_ids(ids[:5], 20) != []


def test_report_and_reviewer_filters():
    job = [{"id": f"p{i}", "p_a": p, "prompt": "", "response_a": "", "response_b": ""}
           for i, p in enumerate([0.9, 0.2, 0.7, 0.6])]
    labels = {"ann": {"p0": 1.0, "p1": 1.0, "p2": 0.0}, "bob": {"p0": 1.0, "p1": 0.0, "p3": 0.5, "gone": 1.0}}
    rep = report(job, labels)
    assert rep["by_reviewer"]["ann"]["agree"] == 1 and rep["by_reviewer"]["ann"]["decided"] == 3
    assert rep["by_reviewer"]["bob"]["agreement"] == 1.0 and rep["all"]["decided"] == 5 and rep["all"]["agree"] == 3
    assert rep["between"]["pairs_compared"] == 2 and rep["between"]["disagreements"] == ["p1"]
    by_pair = {"p0": {"ann": 1.0, "bob": 1.0}, "p1": {"ann": 1.0, "bob": 0.0}, "p2": {"ann": 0.0}}
    assert [r["id"] for r in select(job, PairFilter(reviewers_disagree=True), by_pair)[0]] == ["p1"]
    assert [r["id"] for r in select(job, PairFilter(judge_vs="ann"), by_pair)[0]] == ["p1", "p2"]
    assert select(job, PairFilter(judge_vs="bob"), by_pair)[1] == 0
