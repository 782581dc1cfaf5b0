"""Panels of judges: the pooling math and Krippendorff's interval alpha against hand computations, the panel
labeler on controlled judges of known strengths and biases, its config_hash, the CLI end to end (a panel of two
scripted judges, a recipe's panel, resume, one-line errors) and the panel figures of ``rlaif compare``."""

from __future__ import annotations

import json
import math

import pytest

from conftest import ScriptedJudge, scripted_panel, write_jsonl
from rlaif.core.errors import RlaifError
from rlaif.core.prefs import decision, disagreement, logit, pool_log_odds, sigmoid
from rlaif.data.records import read_records
from rlaif.evaluation.calibration import Calibration
from rlaif.evaluation.compare import compute
from rlaif.evaluation.interrater import krippendorff_alpha, krippendorff_alpha_interval
from rlaif.evaluation.panel_agreement import member_records
from rlaif.jobs.kinds import LABEL
from rlaif.jobs.spec import LabelJob, PanelMember, RunOptions
from rlaif.labeling.labeler import LabelerConfig
from rlaif.labeling.panel import PanelLabeler, panel_id

GOOD_BAD = {"id": "x", "prompt": "q", "response_a": "a GOOD reply", "response_b": "a BAD reply", "human_label": 1.0}


def judge(jid: str, **kw) -> ScriptedJudge:
    j = ScriptedJudge(**kw)
    j.judge_id = jid
    return j


def test_pooled_log_odds_exact():
    assert pool_log_odds([0.9, 0.5]) == pytest.approx(0.75, abs=1e-15)  # odds sqrt(9 * 1) = 3
    assert pool_log_odds([0.8, 0.2]) == pytest.approx(0.5, abs=1e-15)
    assert pool_log_odds([0.9, None, 0.5, math.nan]) == pytest.approx(0.75, abs=1e-15)  # missing members left out
    w = 9 ** (2 / 3)  # weights 2 : 1 -> odds 9^(2/3) * 1^(1/3)
    assert pool_log_odds([0.9, 0.5], [2.0, 1.0]) == pytest.approx(w / (1 + w), abs=1e-15)
    assert pool_log_odds([1.0, 0.0]) == pytest.approx(0.5, abs=1e-15)  # clipped: certain a and certain b cancel
    assert pool_log_odds([1.0]) == pytest.approx(1 - 1e-6, abs=1e-15)
    assert pool_log_odds([None, math.nan]) is None and pool_log_odds([]) is None
    assert logit(0.75) == pytest.approx(math.log(3), abs=1e-15) and sigmoid(logit(0.3)) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        pool_log_odds([0.5, 0.5], [1.0])


def test_disagreement_is_the_population_sd_of_p():
    assert disagreement([0.9, 0.5]) == pytest.approx(0.2, abs=1e-15)
    assert disagreement([1.0, 0.0]) == 0.5
    assert disagreement([0.2, 0.2, 0.8]) == pytest.approx(math.sqrt(0.08), abs=1e-15)  # mean 0.4: (.04 + .04 + .16) / 3
    assert disagreement([0.3, None]) is None and disagreement([0.7, 0.7]) == 0.0
    assert [decision(p) for p in (0.7, 0.3, 0.5, None)] == [1.0, 0.0, 0.5, None]


def test_krippendorff_interval_alpha_by_hand():
    """Units [.2, .4], [.8, .6, 1], [.5] (one value: not pairable), [.1, -, .3]. Coincidences o_ck weigh each
    ordered pair 1 / (m_u - 1): sum o_ck (c - k)^2 = 2(.04) / 1 + 2(.04 + .04 + .16) / 2 + 2(.04) / 1 = 0.40.
    The n = 7 pairable values 0.2 0.4 0.8 0.6 1.0 0.1 0.3 (sum 3.4, sum of squares 2.30):
    sum n_c n_k (c - k)^2 = 2 * 7 * 2.30 - 2 * 3.4^2 = 9.08. alpha = 1 - (n - 1) 0.40 / 9.08."""
    units = [[0.2, 0.4], [0.8, 0.6, 1.0], [0.5], [0.1, None, 0.3]]
    assert krippendorff_alpha_interval(units) == pytest.approx(1 - 6 * 0.40 / 9.08, abs=1e-12)
    assert krippendorff_alpha_interval([[0.3, 0.3], [0.7, 0.7]]) == 1.0
    assert math.isnan(krippendorff_alpha_interval([[0.5, 0.5]])) and math.isnan(krippendorff_alpha_interval([[0.1]]))


def test_krippendorff_2011_worked_example():
    """Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units,
    values 1-5, missing data; the paper gives nominal alpha 0.743 and interval alpha 0.849."""
    n = None
    obs = [[1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
           [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n], [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n]]
    units = [list(u) for u in zip(*obs)]
    assert round(krippendorff_alpha_interval(units), 3) == 0.849
    assert round(krippendorff_alpha([[v for v in u if v is not None] for u in units]), 3) == 0.743


def test_panel_labels_pool_the_members_exactly():
    strong, biased = judge("scripted:a", strength=2.0), judge("scripted:b", strength=1.0, position_bias=0.5)
    row = PanelLabeler([strong, biased]).label([GOOD_BAD])[0]
    p_a = sigmoid(4.0)  # q(GOOD) - q(BAD) = 2 - (-2), both orders
    first_b, second_b = sigmoid(2.5), 1 - sigmoid(-1.5)  # strength 1 and bias +0.5 on slot 1
    p_b = (first_b + second_b) / 2
    assert row["panel"] == {"scripted:a": pytest.approx(p_a), "scripted:b": pytest.approx(p_b)}
    assert row["p_a"] == pytest.approx(sigmoid((logit(p_a) + logit(p_b)) / 2), abs=1e-12)
    assert row["p_a_first"] == pytest.approx(sigmoid((logit(p_a) + logit(first_b)) / 2), abs=1e-12)
    assert row["p_a_principles"] == [pytest.approx(row["p_a"])]
    assert row["panel_disagreement"] == pytest.approx(abs(p_a - p_b) / 2, abs=1e-12)
    assert row["panel_errors"] == [] and row["error"] is None and row["consistent"] is True
    assert row["judge"] == "panel[scripted:a, scripted:b]" == panel_id(["scripted:a", "scripted:b"])


def test_a_member_without_a_label_leaves_the_others_and_says_which():
    ok, mute = judge("scripted:ok"), judge("scripted:mute", drop="2")
    same = {**GOOD_BAD, "id": "same", "response_b": GOOD_BAD["response_a"]}
    row, both_fail = PanelLabeler([ok, mute], weights=[1.0, 3.0]).label([GOOD_BAD, same])
    assert row["p_a"] == pytest.approx(sigmoid(4.0)) and row["panel"]["scripted:mute"] is None
    assert row["panel_errors"] == ["scripted:mute: label token(s) ['2'] not returned by the judge (not in top-20)"]
    assert row["panel_disagreement"] is None and row["error"] is None
    assert both_fail["p_a"] is None and both_fail["error"] == "identical responses: nothing to prefer"
    assert len(both_fail["panel_errors"]) == 2
    with pytest.raises(RlaifError, match="twice"):
        PanelLabeler([ok, judge("scripted:ok")])


def test_member_calibration_applies_before_pooling():
    cal = Calibration(temperature=2.0)
    row = PanelLabeler([judge("scripted:a"), judge("scripted:b")], calibrations=[cal, None]).label([GOOD_BAD])[0]
    assert row["panel"]["scripted:a"] == pytest.approx(sigmoid(2.0), abs=1e-9)  # logit 4 / T
    assert row["p_a"] == pytest.approx(sigmoid(3.0), abs=1e-9) and "p_a_raw" not in row


@pytest.fixture
def scripted_kind():
    """``scripted:STRENGTH[/BIAS]`` judges in this process (the registry of ``scripted_cli``)."""
    from scripted_cli import PANEL

    from rlaif.judges import registry

    registry.register(PANEL.prefix, PANEL)
    yield
    registry.unregister(PANEL.prefix)


def test_panel_config_hash_driver_equals_worker_and_covers_every_member(tmp_path, scripted_kind):
    cal = tmp_path / "cal.json"
    Calibration(temperature=1.5).save(cal)
    run = RunOptions(input="in.jsonl", output="out.jsonl")
    job = LabelJob(run=run, panel=[PanelMember(spec="scripted:2", calibration=str(cal)), PanelMember(spec="scripted:1/0.5")])
    jid = LABEL.judge_id(job)
    assert jid == "panel[scripted:2, scripted:1/0.5]"
    worker = LABEL.worker(job, [judge("scripted:2", strength=2.0), judge("scripted:1/0.5", strength=1.0)])
    assert LABEL.config_hash(job, jid) == worker.config_hash == worker.provenance["config_hash"]
    other = [job.model_copy(update={"panel": job.panel[::-1]}),
             job.model_copy(update={"panel": [job.panel[0].model_copy(update={"calibration": None}), job.panel[1]]}),
             job.model_copy(update={"panel": [job.panel[0], job.panel[1].model_copy(update={"weight": 2.0})]})]
    hashes = {LABEL.config_hash(o, LABEL.judge_id(o)) for o in other} | {worker.config_hash}
    assert len(hashes) == 4
    with pytest.raises(ValueError, match="two or more"):
        LabelJob(run=run, panel=[PanelMember(spec="scripted:2")])
    with pytest.raises(ValueError, match="each member has its own calibration"):
        LabelJob(run=run, panel=job.panel, calibration=str(cal))


def pairs(n: int) -> list[dict]:
    words = ["GOOD", "BAD", "fine"]
    return [{"id": f"p{i}", "prompt": f"question {i}", "response_a": f"{words[i % 3]} answer",
             "response_b": f"{words[(i // 3) % 3]} reply", "human_label": float(i % 2)} for i in range(n)]


@pytest.fixture
def cli(scripted_kind, capsys):
    """The real ``rlaif`` command line in this process, with ``scripted:STRENGTH[/BIAS]`` judges: (exit code,
    stdout, stderr)."""
    from rlaif.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_cli_panel_end_to_end_resume_and_recipe(tmp_path, cli):
    """Two scripted judges by repeated --judge: each row is the panel labeler's, a limited run resumes, another
    panel is refused on the same output; a recipe's judge list with a member's calibration and weight."""
    src = write_jsonl(tmp_path / "in.jsonl", pairs(9))
    out = tmp_path / "out.jsonl"
    base = ["label", str(src), "-o", str(out), "--judge", "scripted:2", "--judge", "scripted:1/0.5", "--no-progress",
            "--chunk-size", "2"]
    assert cli(*base, "--limit", "4")[0] == 0
    code, out_text, err = cli(*base)
    assert code == 0 and "4 resumed from an earlier run, 5 done now" in out_text, err
    got = read_records(out)
    want = PanelLabeler([judge("scripted:2", strength=2.0), judge("scripted:1/0.5", strength=1.0, position_bias=0.5)]
                        ).label([{k: r[k] for k in r} for r in pairs(9)])
    assert [r["id"] for r in got] == [f"p{i}" for i in range(9)]
    for g, w in zip(got, want):
        assert g["p_a"] == pytest.approx(w["p_a"], abs=1e-12) and g["panel"] == pytest.approx(w["panel"])
        assert g["config_hash"] == w["config_hash"] and g["judge"] == "panel[scripted:2, scripted:1/0.5]"
    code, _, err = cli("label", str(src), "-o", str(out), "--judge", "scripted:2", "--judge", "scripted:1", "--no-progress")
    assert code == 2 and "config_hash" in err and read_records(out) == got
    cal = tmp_path / "cal.json"
    Calibration(temperature=2.0).save(cal)
    recipe = tmp_path / "panel.yaml"
    recipe.write_text(f"judge:\n  - {{spec: 'scripted:2', calibration: '{cal}', weight: 3}}\n  - scripted:1\n")
    code, _, err = cli("label", str(src), "-o", str(tmp_path / "r.jsonl"), "--config", str(recipe), "--no-progress")
    assert code == 0, err
    row = read_records(tmp_path / "r.jsonl")[3]  # p3, GOOD vs BAD: logits 4 (T = 2: 2) and 2, weights 3 : 1
    assert row["panel"] == {"scripted:2": pytest.approx(sigmoid(2.0)), "scripted:1": pytest.approx(sigmoid(2.0))}
    assert row["p_a"] == pytest.approx(sigmoid(2.0), abs=1e-9)


@pytest.mark.parametrize("extra,msg", [
    (["--judge", "scripted:2", "--judge", "scripted:1", "--calibration", "c.json"], "--calibration: 1 files for 2 judges"),
    (["--judge", "scripted:2", "--judge", "scripted:1", "--judge-opt", "x=1"], "--judge-opt: with several judges"),
    (["--judge", "scripted:2", "--judge", "scripted:2"], "judge 'scripted:2' is a member twice"),
    (["--judge", "scripted:2", "--calibration", "a.json", "--calibration", "b.json"], "2 files for one judge"),
])
def test_cli_panel_errors_are_one_line(tmp_path, cli, extra, msg):
    src = write_jsonl(tmp_path / "in.jsonl", pairs(2))
    code, _, err = cli("label", str(src), "-o", str(tmp_path / "o.jsonl"), "--no-progress", *extra)
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o.jsonl").exists()


def panel_row(i: int, a: float | None, b: float | None, c: float | None, human: float) -> dict:
    ps = {"J1": a, "J2": b, "J3": c}
    return {"id": f"r{i}", "prompt": "q", "response_a": "x", "response_b": "y", "human_label": human,
            "p_a": pool_log_odds(list(ps.values())), "p_a_first": None, "p_a_second": None, "consistent": None,
            "p_a_principles": [], "principles": [], "rationales": None, "truncated": False, "error": None,
            "judge": "panel[J1, J2, J3]", "constitution": "c", "template": "t@1", "config_hash": "h", "panel": ps,
            "panel_errors": [], "panel_disagreement": disagreement(list(ps.values()))}


def test_compare_reports_the_panel_exactly():
    """Three judges on four pairs: J1 = J2 in decisions, J3 always the opposite of J1, one pair J3 did not label.
    Decisions (a=1, b=0): J1 1 0 1 0, J2 1 0 1 0, J3 0 1 0 -.  kappa(J1, J2) = 1; kappa(J1, J3) over the three
    pairs both labelled: p_o = 0, p_e = 2/3 * 1/3 + 1/3 * 2/3 = 4/9, kappa = -4/5. Humans: 1 0 0 0."""
    rows = [panel_row(0, 0.9, 0.7, 0.2, 1.0), panel_row(1, 0.2, 0.4, 0.8, 0.0), panel_row(2, 0.8, 0.6, 0.3, 0.0),
            panel_row(3, 0.1, 0.3, None, 0.0)]
    f = compute(rows, n_boot=50)
    panel = f["panel"]
    assert panel["judges"] == ["J1", "J2", "J3"] and panel["rows"] == 4
    units = [[0.9, 0.7, 0.2], [0.2, 0.4, 0.8], [0.8, 0.6, 0.3], [0.1, 0.3]]
    assert panel["alpha"] == krippendorff_alpha_interval(units)
    kappas = {(x["a"], x["b"]): (x["kappa"], x["n"], x["agree"]) for x in panel["pairwise"]}
    assert kappas[("J1", "J2")] == (1.0, 4, 4)
    assert kappas[("J1", "J3")][1:] == (3, 0) and kappas[("J1", "J3")][0] == pytest.approx(-0.8, abs=1e-12)
    align = {x["judge"]: x for x in panel["alignment"]}
    assert (align["J1"]["accuracy"], align["J1"]["n"]) == (0.75, 4)  # 1 0 1 0 vs humans 1 0 0 0
    assert (align["J3"]["accuracy"], align["J3"]["n"], align["J3"]["unlabelled"]) == (1 / 3, 3, 1)  # 0 1 0 vs 1 0 0
    assert panel["mean_disagreement"] == pytest.approx(sum(r["panel_disagreement"] for r in rows) / 4)
    assert "panel" not in compute([{**r, "panel": None} for r in rows], n_boot=50)
    as_j3 = member_records(rows, "J3")
    assert [r["p_a"] for r in as_j3] == [0.2, 0.8, 0.3, None] and as_j3[0]["judge"] == "J3"
    with pytest.raises(RlaifError, match="members: J1, J2, J3"):
        member_records(rows, "J9")


def test_compare_report_has_a_panel_section(tmp_path):
    from rlaif.evaluation.compare import write_report

    rows = [panel_row(i, 0.2 + 0.05 * i, 0.9 - 0.05 * i, 0.6, float(i % 2)) for i in range(8)]
    write_report(rows, tmp_path / "rep", n_boot=20)
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Panel of judges" in md and "| Cohen's kappa (decisions a / b / tie) | J1 vs J3 |" in md
    assert json.loads((tmp_path / "rep" / "figures.json").read_text())["panel"]["judges"] == ["J1", "J2", "J3"]


def test_python_api_takes_a_panel():
    import rlaif

    got = rlaif.label(pairs(4), judge=scripted_panel(), calibration=[Calibration(temperature=2.0), None])
    want = PanelLabeler(scripted_panel(), calibrations=[Calibration(temperature=2.0), None]).label(pairs(4))
    assert [g["p_a"] for g in got] == [w["p_a"] for w in want] and got[3]["judge"] == want[3]["judge"]
    with pytest.raises(RlaifError, match="judge_options"):
        rlaif.label(pairs(1), judge=scripted_panel(), judge_options={"n_ctx": 8})
