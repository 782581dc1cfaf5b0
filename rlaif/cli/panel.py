"""``rlaif label``'s panel of judges on the command line: ``--judge`` repeated (or a recipe's ``judge`` list of
specs or ``{spec, options, calibration, weight}`` mappings) and ``--calibration`` matched to the judges in order."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import TypeAdapter

from rlaif.cli.flags import Flag, table
from rlaif.core.errors import RlaifError

CALIBRATION = "panel.calibration"


def add_calibration_arg(p: argparse.ArgumentParser) -> None:
    """``--calibration FILE``, once per judge (a panel's in the order of its ``--judge``s)."""
    p.add_argument("--calibration", dest=CALIBRATION, action="append", metavar="FILE", default=argparse.SUPPRESS,
                   help="calibration JSON from 'rlaif calibrate' to apply to p_a; with several --judge, one per "
                   "judge in the same order (each judge's own, applied before the panel pools them)")
    table(p)["calibration"] = Flag("calibration", "--calibration", "panel", "calibration",
                                   TypeAdapter(str | list[str] | None))


def _listed(value: Any) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def split_judges(args: argparse.Namespace) -> tuple[str | None, list]:
    """(the one judge's calibration, []) or (None, the panel's members as ``PanelMember``s) from the command
    line and recipe; for one judge, ``args`` is left holding its spec as ``judge_spec`` reads it."""
    from rlaif.jobs.spec import PanelMember
    from rlaif.judges.registry import check_options

    judges, cals = _listed(getattr(args, "judge.spec", None)), _listed(getattr(args, CALIBRATION, None))
    if len(judges) < 2:
        one = judges[0] if judges else None
        if isinstance(one, PanelMember):
            raise RlaifError("judge: a mapping of spec and options is for a panel's members (two or more judges); "
                             "one judge is 'judge: SPEC' with 'judge_options'")
        if len(cals) > 1:
            raise RlaifError(f"--calibration: {len(cals)} files for one judge")
        setattr(args, "judge.spec", one)
        return (cals[0] if cals else None), []
    extra = [flag for flag, dest in (("--judge-opt", "judge.opt"), ("judge_options", "judge.recipe")) if getattr(args, dest, None)]
    if extra or any(k.startswith("judge.flat.") for k in vars(args)):
        raise RlaifError(f"{(extra or ['a judge option flag'])[0]}: with several judges, give each member's options "
                         "in a --config recipe (judge: a list of {spec: ..., options: {...}})")
    if cals and len(cals) != len(judges):
        raise RlaifError(f"--calibration: {len(cals)} files for {len(judges)} judges (one per judge, in the order "
                         "of the judges, or none)")
    members = [j if isinstance(j, PanelMember) else PanelMember(spec=j) for j in judges]
    members = [m.model_copy(update={"calibration": c}) for m, c in zip(members, cals)] + members[len(cals):]
    return None, [m.model_copy(update={"options": check_options(m.spec, m.options)}) for m in members]
