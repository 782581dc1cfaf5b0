"""The service's panels of judges: the operator's member judges (``ServeConfig.panel``) loaded once, and the
member names a client sends checked against them. A client names members, never a judge spec, option or URL
(a URL from a client would make the service fetch wherever it says: SSRF)."""

from __future__ import annotations

from typing import Sequence

from fastapi import HTTPException

from rlaif.core.errors import RlaifError
from rlaif.jobs.spec import JudgeSpec, PanelMember
from rlaif.judges.base import JudgeBackend
from rlaif.service.config import ServeConfig


def _same_judge(member: PanelMember, judge: JudgeSpec) -> bool:
    return member.spec == judge.spec and member.options == judge.options


def load_members(cfg: ServeConfig, judge: JudgeBackend) -> dict[str, JudgeBackend]:
    """Each configured member's judge by name, loaded now; one with the spec and options of the service's judge
    is that judge (not a second copy)."""
    from rlaif.jobs.pipeline import build_judge

    return {name: judge if _same_judge(m, cfg.judge) else build_judge(m) for name, m in cfg.panel.items()}


def chosen(cfg: ServeConfig, names: Sequence[str] | None) -> list[PanelMember]:
    """The members a request names (``panel``: two or more names of ``cfg.panel``, each once); [] for none; a
    422 naming the field otherwise."""
    if not names:
        return []
    known = ", ".join(sorted(cfg.panel)) or "none configured"
    for i, name in enumerate(names):
        if name not in cfg.panel:
            raise HTTPException(422, f"panel[{i}]: {name[:64]!r} is not a panel member of this service (members: "
                                     f"{known}; the operator configures them)")
        if name in names[:i]:
            raise HTTPException(422, f"panel[{i}]: {name!r} is named twice")
    if len(names) < 2:
        raise HTTPException(422, f"panel: a panel has two or more members (members: {known})")
    return [cfg.panel[n] for n in names]


def judges_of(cfg: ServeConfig, loaded: dict[str, JudgeBackend], members: Sequence[PanelMember]) -> list[JudgeBackend]:
    """The loaded judges of a panel's members (a job's stored spec holds members, not names); a member no
    longer configured (the operator changed the panel since the job was queued) is an error naming it."""
    out = []
    for m in members:
        name = next((n for n, c in cfg.panel.items() if c == m), None)
        if name is None:
            raise RlaifError(f"panel member {m.spec!r} is no longer configured on this service")
        out.append(loaded[name])
    return out
