"""``rlaif compare``: AI soft labels vs human labels, as a JSON of figures and a Markdown/HTML report."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from rlaif.evaluation import audit as A
from rlaif.evaluation import metrics as M
from rlaif.evaluation.panel_agreement import panel_agreement
from rlaif.data.normalise import parse_human_label
from rlaif.data.records import read_records
from rlaif.data.sources import iter_source_rows
from rlaif.core.errors import RlaifError
from rlaif.core.records import is_missing
from rlaif.core.schema import check_label_record, missing_reasons


def join_human(records: list[dict[str, Any]], human_path: str | Path | None) -> list[dict[str, Any]]:
    """Attach human labels from a separate file (columns ``id``, ``human_label``), keyed by id."""
    if human_path is None:
        return records
    labels: dict[str, float | None] = {}
    for loc, row, _ in iter_source_rows(human_path):  # the input reader: JSONL, Parquet, CSV, datasets
        if isinstance(row, Exception):
            raise RlaifError(str(row))
        for col in ("id", "human_label"):
            if col not in row:
                raise RlaifError(f"{loc}: missing column '{col}' (need id and human_label)")
        try:
            labels[str(row["id"])] = parse_human_label(row["human_label"], loc)
        except ValueError as e:
            raise RlaifError(str(e)) from None
    return [{**r, "human_label": labels.get(str(r["id"]))} for r in records]


def _floats(values: list[Any]) -> np.ndarray:
    """Record values as an array for arithmetic: a missing value (None) as NaN."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _arr(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return _floats([r.get(key) for r in rows])


def compute(records: list[dict[str, Any]], *, n_boot: int = 2000, seed: int = 0,
            against: list[dict[str, Any]] | None = None, self_source: str | None = None) -> dict[str, Any]:
    """Every figure of the report, from label records that carry ``human_label``; ``against``: label
    records of the same pairs under another template or judge (the audit's sensitivity part);
    ``self_source``: the source name of the judge's own responses (default: each row's ``judge``)."""
    y_all = _arr(records, "human_label")
    has_h = np.isin(y_all, (0.0, 1.0))
    rows = [r for r, h in zip(records, has_h) if h]
    if not rows:
        raise RlaifError("no rows with a human label (0 or 1): pass --human FILE or label chosen/rejected data")
    p_all, y = _arr(rows, "p_a"), _arr(rows, "human_label")
    ok = ~np.isnan(p_all)
    p, yl = p_all[ok], y[ok]
    nan_reasons = missing_reasons(rows, "p_a")
    if not ok.any():
        top = max(nan_reasons.items(), key=lambda kv: kv[1])
        raise RlaifError(f"no labelled rows: all {len(rows)} rows with a human label have p_a = NaN "
                         f"({top[1]} x {top[0]}" + (", ..." if len(nan_reasons) > 1 else "") + ")")
    p_coin = np.where(ok, p_all, 0.5)
    out: dict[str, Any] = {
        "rows": len(records), "rows_with_human_label": len(rows), "labelled": int(ok.sum()),
        "unlabelled": int((~ok).sum()), "unlabelled_reasons": nan_reasons,
        "judge": sorted({str(r.get("judge")) for r in rows}), "constitution": sorted({str(r.get("constitution")) for r in rows}),
        "template": sorted({str(r.get("template")) for r in rows}),
        "accuracy": M.accuracy(p, yl), "accuracy_ci95": M.bootstrap_ci(M.accuracy, p, yl, n_boot=n_boot, seed=seed),
        "accuracy_all_rows_nan_as_coin": M.accuracy(p_coin, y),
        "cohen_kappa": M.cohen_kappa(p, yl), "kappa_ci95": M.bootstrap_ci(M.cohen_kappa, p, yl, n_boot=n_boot, seed=seed),
        "ties": int((p == 0.5).sum()),
        "log_loss": M.log_loss(p, yl), "brier": M.brier(p, yl), "ece": M.ece(p, yl),
        "ece_ci95": M.bootstrap_ci(M.ece, p, yl, n_boot=n_boot, seed=seed),
        "human_rate_a": float(yl.mean()), "mean_p_a": float(p.mean()),
        "reliability": M.reliability(p, yl), "by_confidence": M.by_confidence(p, yl),
        "length_bias": M.length_bias(p, yl, np.array([len(r["response_a"]) for r, g in zip(rows, ok) if g]),
                                     np.array([len(r["response_b"]) for r, g in zip(rows, ok) if g])),
        "position_bias": M.position_bias(_arr(rows, "p_a_first"), _arr(rows, "p_a_second")),
    }
    first = _arr(rows, "p_a_first")[ok]
    out["accuracy_one_order"] = M.accuracy(first, yl) if not np.isnan(first).all() else float("nan")
    out["truncated"] = int(sum(bool(r.get("truncated")) for r in rows))
    la, lb = (np.array([len(r[k]) for r, g in zip(rows, ok) if g]) for k in ("response_a", "response_b"))
    out["audit"] = {"position": A.position_audit(_arr(rows, "p_a_first"), _arr(rows, "p_a_second"), n_boot=n_boot, seed=seed),
                    "length": A.length_audit(p, yl, la, lb, n_boot=n_boot, seed=seed)}
    out["audit"]["self_preference"] = self_preference(records, self_source, n_boot=n_boot, seed=seed)
    if against is not None:
        out["audit"]["against"] = sensitivity(records, against, n_boot=n_boot, seed=seed)
    out["audit"]["verdicts"] = dict(A.verdicts(out["audit"]))
    panel = panel_agreement(records, n_boot=n_boot, seed=seed)
    if panel is not None:
        out["panel"] = panel
    return out


def panel_rows(panel: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The report's Panel table: (what, judges, value)."""
    rows = [("Krippendorff's alpha (interval, soft labels)", ", ".join(panel["judges"]), _fmt(panel["alpha"])),
            ("mean disagreement (SD of the judges' p_a)", f"{panel['rows']} rows", _fmt(panel["mean_disagreement"]))]
    rows += [("Cohen's kappa (decisions a / b / tie)", f"{x['a']} vs {x['b']}",
              f"{_fmt(x['kappa'])} ({x['agree']} of {x['n']} alike)") for x in panel["pairwise"]]
    rows += [("alignment with humans", x["judge"], f"{_fmt(x['accuracy'])} 95% CI {_fmt(tuple(x['accuracy_ci95']))}, "
              f"kappa {_fmt(x['cohen_kappa'])} (n={x['n']}; {x['unlabelled']} rows without its label)")
             for x in panel["alignment"]]
    return rows


def sensitivity(records: list[dict[str, Any]], other: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    """``audit.sensitivity_audit`` on the pairs labelled (finite p_a) in both files, matched by id; the
    human label is A's, else B's."""
    by_id = {str(r["id"]): r for r in other}
    both = [(r, by_id[str(r["id"])]) for r in records if str(r["id"]) in by_id]
    both = [(a, b) for a, b in both if a.get("p_a") is not None and b.get("p_a") is not None]
    if not both:
        raise RlaifError("--against: no pair id is labelled in both files")
    h = [a.get("human_label") if a.get("human_label") is not None else b.get("human_label") for a, b in both]
    res = A.sensitivity_audit(np.array([float(a["p_a"]) for a, _ in both]), np.array([float(b["p_a"]) for _, b in both]),
                              _floats(h), **kw)
    return {**res, "only_in_a": len(records) - len(both), "judge_b": sorted({str(b.get("judge")) for _, b in both}),
            "template_b": sorted({str(b.get("template")) for _, b in both})}


def _own(r: dict[str, Any], self_source: str | None) -> tuple[bool, bool]:
    """Whether response_a and response_b are the judge's own: their source is ``self_source``, or else the
    row's judge id (a policy and a judge given the same spec and options record the same id)."""
    me = self_source or r.get("judge")
    return r["source_a"] == me, r["source_b"] == me


def self_preference(records: list[dict[str, Any]], self_source: str | None = None, **kw: Any) -> dict[str, Any]:
    """``audit.self_preference_audit`` on the labelled pairs (every row, with a human label or not) where exactly
    one response is the judge's own (``source_a``/``source_b``); ``{"absent": why}`` when there are none."""
    sourced = [r for r in records if r.get("source_a") is not None and r.get("source_b") is not None]
    if not sourced:
        return {"absent": "no pair says who wrote its responses (source_a/source_b: label candidates of "
                          "'rlaif generate' with --pairs, or give the input rows source_a and source_b)"}
    mine = [r for r in sourced if sum(_own(r, self_source)) == 1]
    labelled = [r for r in mine if not is_missing(r.get("p_a"))]
    if not labelled:
        names = sorted({s for r in sourced for s in (r["source_a"], r["source_b"])})
        me = [self_source] if self_source else sorted({str(r.get("judge")) for r in sourced})
        return {"absent": f"no labelled pair has exactly one response by {', '.join(me)} (sources: "
                          f"{', '.join(names[:8])}{', ...' if len(names) > 8 else ''}); --self-source NAME says "
                          "which source is the judge's"}
    own_a = np.array([_own(r, self_source)[0] for r in labelled])
    p, y = _arr(labelled, "p_a"), _arr(labelled, "human_label")
    res = A.self_preference_audit(np.where(own_a, p, 1 - p), np.where(own_a, y, 1 - y), **kw)
    return {**res, "self_source": sorted({self_source or str(r.get("judge")) for r in labelled}),
            "unlabelled_left_out": len(mine) - len(labelled)}


def audit_rows(a: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The report's Audit table: (test, statistic, exact p-value)."""
    pos, ln = a["position"], a["length"]
    rows = [("position: McNemar on the orders' decisions",
             f"slot 1 won both orders {pos['slot1_both']}x, slot 2 {pos['slot2_both']}x (ties {pos['order_ties']})",
             _p(pos["mcnemar_p"])),
            ("position: sign test of P(first slot) vs 1/2",
             f"P(first slot) {_fmt(pos['p_first_slot'])} 95% CI {_fmt(tuple(pos['p_first_slot_ci95']))}; "
             f"first favoured {pos['first_slot_favoured']}, second {pos['second_slot_favoured']}", _p(pos["sign_test_p"])),
            ("length: judge vs humans prefer the longer",
             f"{_fmt(ln['ai_prefers_longer'])} vs {_fmt(ln['human_prefers_longer'])}, excess {_fmt(ln['excess'])} "
             f"95% CI {_fmt(tuple(ln['excess_ci95']))} (n={ln['n']}; only judge {ln['ai_only']}, only humans {ln['human_only']})",
             _p(ln["mcnemar_p"]))]
    rows += self_preference_rows(a["self_preference"]) if "self_preference" in a else []
    s = a.get("against")
    if s:
        rows.append((f"sensitivity: A vs B ({', '.join(s['judge_b'])} / {', '.join(s['template_b'])})",
                     f"agreement {_fmt(s['agreement'])}, kappa {_fmt(s['kappa'])}, mean |pA - pB| {_fmt(s['mean_abs_diff'])} "
                     f"(n={s['n']}); Δ alignment {_fmt(s['delta_alignment'])} 95% CI {_fmt(tuple(s['delta_alignment_ci95']))} "
                     f"(A {_fmt(s['accuracy_a'])}, B {_fmt(s['accuracy_b'])}, n={s['with_human_label']})", _p(s["mcnemar_p"])))
    return rows


def self_preference_rows(sp: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The Audit table's self-preference rows: the judge alone, and against humans on the same pairs."""
    if "absent" in sp:
        return [("self-preference", f"not measured: {sp['absent']}", "n/a")]
    rows = [(f"self-preference: judge picks its own response ({', '.join(sp['self_source'])}) vs 1/2",
             f"{sp['wins']} of {sp['wins'] + sp['losses']}, {_fmt(sp['win_rate'])} 95% CI {_fmt(tuple(sp['win_rate_ci95']))} "
             f"(ties {sp['ties']}); mean P(own) {_fmt(sp['mean_p_own'])} (n={sp['n']})", _p(sp["binomial_p"]))]
    if not sp["with_human_label"]:
        return rows + [("self-preference: judge vs humans prefer the judge's own", "no pair with the judge's own "
                        "response has a human label", "n/a")]
    return rows + [("self-preference: judge vs humans prefer the judge's own",
                    f"{_fmt(sp['ai_rate'])} vs {_fmt(sp['human_rate'])}, excess {_fmt(sp['excess'])} 95% CI "
                    f"{_fmt(tuple(sp['excess_ci95']))} (n={sp['with_human_label']}; only judge {sp['ai_only']}, "
                    f"only humans {sp['human_only']})", _p(sp["mcnemar_p"]))]


def _p(x: float) -> str:
    return f"{x:.2g}"


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "n/a" if math.isnan(x) else f"{x:.3f}"
    if isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(v, float) for v in x):
        return f"[{_fmt(x[0])}, {_fmt(x[1])}]"
    return str(x)


def summary_rows(f: dict[str, Any]) -> list[tuple[str, str]]:
    pb, lb = f["position_bias"], f["length_bias"]
    return [
        ("judge", ", ".join(f["judge"])), ("constitution / template", f"{', '.join(f['constitution'])} / {', '.join(f['template'])}"),
        ("rows (with human label)", f"{f['rows']} ({f['rows_with_human_label']})"),
        ("labelled / unlabelled (NaN)", f"{f['labelled']} / {f['unlabelled']}"),
        ("AI-labeler alignment (accuracy, labelled rows)", f"{_fmt(f['accuracy'])} 95% CI {_fmt(tuple(f['accuracy_ci95']))}"),
        ("accuracy over all rows (NaN scored as a coin flip)", _fmt(f["accuracy_all_rows_nan_as_coin"])),
        ("accuracy from one order only (position-biased, for contrast)", _fmt(f["accuracy_one_order"])),
        ("Cohen's kappa", f"{_fmt(f['cohen_kappa'])} 95% CI {_fmt(tuple(f['kappa_ci95']))}"),
        ("log loss / Brier", f"{_fmt(f['log_loss'])} / {_fmt(f['brier'])}"),
        ("expected calibration error (10 bins)", f"{_fmt(f['ece'])} 95% CI {_fmt(tuple(f['ece_ci95']))}"),
        ("P(prefer first slot)", _fmt(pb["p_first_slot"])),
        ("orders disagree (position inconsistency)", _fmt(pb["order_disagreement"])),
        ("P(AI prefers longer) vs P(human prefers longer)", f"{_fmt(lb['ai_prefers_longer'])} vs {_fmt(lb['human_prefers_longer'])} (n={lb['n']})"),
        ("truncated contexts", str(f["truncated"])),
    ]


def _plots(f: dict[str, Any], p: np.ndarray, out: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    rel = f["reliability"]
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot([r["mean_p"] for r in rel], [r["human_rate"] for r in rel], "o-", label="judge")
    for r in rel:
        ax.annotate(str(r["n"]), (r["mean_p"], r["human_rate"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel="mean soft label P(a) in bin", ylabel="fraction humans prefer a", xlim=(0, 1), ylim=(0, 1),
           title=f"Reliability (ECE {f['ece']:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout(); fig.savefig(out / "reliability.png", dpi=110); plt.close(fig)
    made.append(("Reliability diagram", "reliability.png"))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(p, bins=20, range=(0, 1), color="#4477aa")
    ax.set(xlabel="soft label P(a preferred)", ylabel="rows", title="Soft-label histogram")
    fig.tight_layout(); fig.savefig(out / "histogram.png", dpi=110); plt.close(fig)
    made.append(("Soft-label histogram", "histogram.png"))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bc = [b for b in f["by_confidence"] if b["n"]]
    ax.bar([f"{b['lo']:.1f}-{b['hi']:.1f}\n(n={b['n']})" for b in bc], [b["accuracy"] for b in bc], color="#66aa55")
    ax.axhline(0.5, color="grey", ls="--")
    ax.set(ylim=(0, 1), xlabel="confidence |2p - 1|", ylabel="agreement with humans", title="Agreement vs confidence")
    fig.tight_layout(); fig.savefig(out / "agreement_vs_confidence.png", dpi=110); plt.close(fig)
    made.append(("Agreement vs confidence", "agreement_vs_confidence.png"))
    return made


def write_report(records: list[dict[str, Any]], out_dir: str | Path, title: str = "AI vs human labels",
                 **kw: Any) -> dict[str, Any]:
    """Compute the figures and write figures.json, report.md, report.html and PNG plots to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    f = compute(records, **kw)
    p = _arr([r for r in records if r.get("human_label") in (0, 1, 0.0, 1.0)], "p_a")
    plots = _plots(f, p[~np.isnan(p)], out)
    (out / "figures.json").write_text(json.dumps(f, indent=2))
    rows = summary_rows(f)
    conf = [(f"{b['lo']:.1f}-{b['hi']:.1f}", str(b["n"]), _fmt(b["accuracy"])) for b in f["by_confidence"]]
    md = [f"# {title}", "", "| metric | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    md += ["", "## Agreement by confidence", "", "| confidence | rows | accuracy |", "|---|---|---|"]
    md += [f"| {a} | {b} | {c} |" for a, b, c in conf]
    aud = audit_rows(f["audit"])
    md += ["", "## Audit", "", f"Exact tests; a bias is reported at p < {A.ALPHA}.", "",
           "| test | statistic | p-value |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in aud]
    md += [""] + [f"- **{k}**: {v}" for k, v in f["audit"]["verdicts"].items()]
    panel = panel_rows(f["panel"]) if "panel" in f else []
    if panel:
        md += ["", "## Panel of judges", "", "| figure | judges | value |", "|---|---|---|"]
        md += [f"| {a} | {b} | {c} |" for a, b, c in panel]
    if f["unlabelled_reasons"]:
        md += ["", "## Unlabelled rows", ""] + [f"- {n} x {r}" for r, n in f["unlabelled_reasons"].items()]
    md += [""] + [f"![{t}]({fn})" for t, fn in plots]
    (out / "report.md").write_text("\n".join(md) + "\n")
    esc = html.escape
    page = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{border:1px solid #ccc;"
            "padding:4px 8px}table{border-collapse:collapse;margin-bottom:1.5em}img{margin:0.5em}</style></head><body>",
            f"<h1>{esc(title)}</h1><table>"] + [f"<tr><th align=left>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows]
    page += ["</table><h2>Agreement by confidence</h2><table><tr><th>confidence</th><th>rows</th><th>accuracy</th></tr>"]
    page += [f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in conf] + ["</table>"]
    page += ["<h2>Audit</h2><table><tr><th>test</th><th>statistic</th><th>p-value</th></tr>"]
    page += [f"<tr><td>{esc(a)}</td><td>{esc(b)}</td><td>{c}</td></tr>" for a, b, c in aud] + ["</table><ul>"]
    page += [f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in f["audit"]["verdicts"].items()] + ["</ul>"]
    if panel:
        page += ["<h2>Panel of judges</h2><table><tr><th>figure</th><th>judges</th><th>value</th></tr>"]
        page += [f"<tr><td>{esc(a)}</td><td>{esc(b)}</td><td>{esc(c)}</td></tr>" for a, b, c in panel] + ["</table>"]
    page += [f"<figure><img src='{fn}' alt='{esc(t)}'><figcaption>{esc(t)}</figcaption></figure>" for t, fn in plots]
    (out / "report.html").write_text("\n".join(page) + "</body></html>\n")
    return f


def load_for_compare(labels: str | Path, human: str | Path | None) -> list[dict[str, Any]]:
    return join_human(read_records(labels, check_label_record, unique_ids=True), human)
