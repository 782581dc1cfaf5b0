"""Ranking each prompt's candidates: Bradley-Terry on the soft labels of its pairs, or the judge's
expected 1-10 scores (direct RLAIF), and how often the two agree on the best response."""

from __future__ import annotations

from typing import Any, Sequence

from rlaif.core.errors import RlaifError
from rlaif.core.records import settle
from rlaif.evaluation.bradley_terry import fit, ranks


def _one_setting(records: Sequence[dict[str, Any]], source: str) -> str | None:
    """The records' one ``config_hash``; a file mixing settings is refused, naming the first odd row."""
    first = records[0].get("config_hash") if records else None
    for k, r in enumerate(records):
        if r.get("config_hash") != first:
            raise RlaifError(f"{source}:{k + 1}: config_hash {r.get('config_hash')} differs from line 1's {first}; "
                             "a ranking needs labels made with one setting")
    return first


def _need(r: dict[str, Any], fields: Sequence[str], source: str, k: int, hint: str) -> None:
    for f in fields:
        if r.get(f) is None:
            raise RlaifError(f"{source}:{k + 1} field '{f}' is missing ({hint})")


def _slots(groups: dict[str, dict], r: dict[str, Any], idx: int, text: str) -> None:
    g = groups.setdefault(r["group"], {"prompt": r["prompt"], "messages": r.get("messages"), "responses": {}})
    g["responses"][idx] = text


def _fill(responses: dict[int, str]) -> list[str | None]:
    return [responses.get(i) for i in range(max(responses) + 1)] if responses else []


def bradley_terry_groups(labels: Sequence[dict[str, Any]], source: str = "labels", l2: float = 1e-2) -> dict[str, dict]:
    """Per group: prompt, responses, BT scores (NaN for a candidate in no labelled pair), log-likelihood,
    pairs used (pairs with a NaN label are left out)."""
    groups: dict[str, dict] = {}
    for k, r in enumerate(labels):
        _need(r, ("group", "candidate_a", "candidate_b"), source, k, "label candidate rows with 'rlaif label --pairs'")
        _slots(groups, r, int(r["candidate_a"]), r["response_a"])
        _slots(groups, r, int(r["candidate_b"]), r["response_b"])
        p = r.get("p_a")
        if p is not None:
            groups[r["group"]].setdefault("comparisons", []).append((int(r["candidate_a"]), int(r["candidate_b"]), p))
    for g in groups.values():
        g["responses"] = _fill(g["responses"])
        comps = g.pop("comparisons", [])
        scores, ll = fit(len(g["responses"]), comps, l2=l2)
        seen = {c[0] for c in comps} | {c[1] for c in comps}
        g["bt_scores"] = [float(s) if i in seen else None for i, s in enumerate(scores)]
        g["bt_log_likelihood"], g["pairs_used"] = ll, len(comps)
    return groups


def score_groups(scores: Sequence[dict[str, Any]], source: str = "scores") -> dict[str, dict]:
    """Per group: prompt, responses, the judge's expected 1-10 score of each candidate (NaN if unscored)."""
    groups: dict[str, dict] = {}
    values: dict[str, dict[int, float]] = {}
    for k, r in enumerate(scores):
        _need(r, ("group", "candidate"), source, k, "score candidate rows with 'rlaif score'")
        _slots(groups, r, int(r["candidate"]), r["response"])
        v = r.get("score")
        values.setdefault(r["group"], {})[int(r["candidate"])] = None if v is None else float(v)
    for gid, g in groups.items():
        g["responses"] = _fill(g["responses"])
        g["judge_scores"] = [values[gid].get(i) for i in range(len(g["responses"]))]
    return groups


def _best(values: Sequence[float | None]) -> int | None:
    known = [(v, i) for i, v in enumerate(values) if v is not None]
    return max(known)[1] if known else None


def ranked_records(labels: Sequence[dict] | None, scores: Sequence[dict] | None, by: str = "bt",
                   sources: tuple[str, str] = ("labels", "scores")) -> list[dict[str, Any]]:
    """One ranked record per group (``schema.RANKED_FIELDS``), ranked by ``by`` ('bt' or 'score')."""
    if by == "bt" and not labels:
        raise RlaifError("--by bt needs label records (from 'rlaif label --pairs')")
    if by == "score" and not scores:
        raise RlaifError("--by score needs score records (from 'rlaif score' on the candidates)")
    bt = bradley_terry_groups(labels, sources[0]) if labels else {}
    sc = score_groups(scores, sources[1]) if scores else {}
    hashes = {"labels": _one_setting(labels, sources[0]) if labels else None,
              "scores": _one_setting(scores, sources[1]) if scores else None}
    first = (labels if by == "bt" else scores)[0]
    provenance = {k: first.get(k) for k in ("judge", "constitution", "template")}
    out = []
    for gid in (bt or sc):
        b, s = bt.get(gid, {}), sc.get(gid, {})
        base = b or s
        primary = b.get("bt_scores") if by == "bt" else s.get("judge_scores")
        if primary is None:
            continue  # a group that only the other file has
        out.append(settle({"id": gid, "prompt": base["prompt"], "messages": base["messages"], "responses": base["responses"],
                    "ranked_by": by, "scores": primary, "ranks": ranks(primary), "bt_scores": b.get("bt_scores"),
                    "bt_log_likelihood": b.get("bt_log_likelihood"), "pairs_used": b.get("pairs_used"),
                    "judge_scores": s.get("judge_scores"), "config_hash": hashes["labels" if by == "bt" else "scores"],
                    **provenance}))
    return out


def best_agreement(ranked: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """(groups where the BT-best and the score-best candidate are the same, groups with both rankings)."""
    both = [r for r in ranked if r.get("bt_scores") and r.get("judge_scores")]
    same = sum(1 for r in both if _best(r["bt_scores"]) is not None and _best(r["bt_scores"]) == _best(r["judge_scores"]))
    return same, len(both)
