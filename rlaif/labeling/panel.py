"""Panels of judges: one labeler per member judge, their soft labels kept per row and pooled into the row's p_a
by mean log-odds (``core.prefs.pool_log_odds``), with the members' disagreement (``core.prefs.disagreement``)."""

from __future__ import annotations

import math
from typing import Any, Sequence

from rlaif.core.errors import RlaifError
from rlaif.core.prefs import consistency, disagreement, pool_log_odds
from rlaif.core.schema import label_record
from rlaif.evaluation.calibration import Calibration
from rlaif.judges.base import JudgeBackend
from rlaif.labeling.labeler import Labeler, invalid_label, label_hash
from rlaif.labeling.provenance import judged_by
from rlaif.labeling.settings import LabelerConfig

Row = dict[str, Any]


def panel_id(member_ids: Sequence[str]) -> str:
    """The ``judge`` a panel's rows record: every member's judge id, in the panel's order,
    ``panel[ID1, ID2, ...]``; a judge twice in one panel is refused (its labels would be indistinguishable)."""
    seen = set()
    for jid in member_ids:
        if jid in seen:
            raise RlaifError(f"panel: judge '{jid}' is a member twice (each member is a different judge)")
        seen.add(jid)
    return "panel[" + ", ".join(member_ids) + "]"


def judge_id_of(judge: JudgeBackend | Sequence[JudgeBackend]) -> str:
    """The ``judge`` the rows of a loaded judge record, or of a panel given as its members' judges."""
    return panel_id([j.judge_id for j in judge]) if isinstance(judge, (list, tuple)) else judge.judge_id


class PanelLabeler:
    """Labels pair records with a panel: every member judge labels every pair (one ``Labeler`` each, the same
    settings, each with its own calibration), then each row's p_a, p_a_first, p_a_second and p_a_principles
    are the members' pooled by weighted mean log-odds over the members that gave a value. A row keeps each
    member's p_a (``panel``), why a member gave none (``panel_errors``) and the members' disagreement; a row
    no member labelled has p_a null and the members' reasons as its ``error``."""

    def __init__(self, judges: Sequence[JudgeBackend], config: LabelerConfig | None = None,
                 calibrations: Sequence[Calibration | None] | None = None, weights: Sequence[float] | None = None):
        if not isinstance(judges, (list, tuple)):
            raise RlaifError("a panel needs one loaded judge per member (a list of judges)")
        calibrations = list(calibrations or [None] * len(judges))
        self.weights = list(weights or [1.0] * len(judges))
        if not len(judges) == len(calibrations) == len(self.weights) or len(judges) < 2:
            raise RlaifError(f"panel: {len(judges)} judges, {len(calibrations)} calibrations, {len(self.weights)} "
                             "weights (a panel has two or more judges, each with at most one calibration)")
        self.members = [Labeler(j, config, calibration=c) for j, c in zip(judges, calibrations)]
        self.ids = [j.judge_id for j in judges]
        self.judge_id = judge_id_of(judges)
        first = self.members[0]
        self.cfg, self.constitution, self.template = first.cfg, first.constitution, first.template
        self.config_hash = label_hash(self.cfg, self.judge_id, self.constitution, self.template, None,
                                      list(zip(calibrations, self.weights)))

    @property
    def provenance(self) -> dict[str, str]:
        return judged_by(self.judge_id, self.constitution, self.template, self.config_hash)

    def invalid_record(self, rid: str, message: str) -> Row:
        return invalid_label(self.provenance, rid, message)

    def label(self, records: list[Row]) -> list[Row]:
        """Label pair records with every member; one panel record per input record, in order."""
        by_member = [m.label(records) for m in self.members]
        return [self._combine(rec, [rows[i] for rows in by_member]) for i, rec in enumerate(records)]

    def _pool(self, rows: list[Row], key: str) -> float | None:
        return pool_log_odds([r.get(key) for r in rows], self.weights)

    def _combine(self, rec: Row, rows: list[Row]) -> Row:
        """The panel's record of one pair from its members' records (in member order)."""
        ps = [r["p_a"] for r in rows]
        failed = [f"{jid}: {r['error'] or 'no label'}" for jid, r in zip(self.ids, rows) if r["p_a"] is None]
        out = label_record(rec, self.provenance, principles=rows[0]["principles"],
                           truncated=any(r["truncated"] for r in rows), panel=dict(zip(self.ids, ps)),
                           panel_errors=failed, panel_disagreement=disagreement(ps))
        out["rationales"] = [x for r in rows for x in (r.get("rationales") or [])] or None
        out["p_a"] = self._pool(rows, "p_a")
        if out["p_a"] is None:
            reasons = list(dict.fromkeys(r["error"] or "no label" for r in rows))
            out["error"] = reasons[0] if len(reasons) == 1 else "no panel member gave a label (" + "; ".join(failed) + ")"
            return out
        out["p_a_first"], out["p_a_second"] = self._pool(rows, "p_a_first"), self._pool(rows, "p_a_second")
        first, second = (math.nan if v is None else v for v in (out["p_a_first"], out["p_a_second"]))
        out["consistent"] = consistency(first, second)
        k = max(len(r["p_a_principles"]) for r in rows)
        out["p_a_principles"] = [pool_log_odds([_at(r["p_a_principles"], i) for r in rows], self.weights)
                                 for i in range(k)]
        return out


def _at(values: list, i: int) -> Any:
    return values[i] if i < len(values) else None
