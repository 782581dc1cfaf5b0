"""Command-line options shared by several subcommands: checked number types, the judge flags (``--judge``,
``--judge-opt KEY=VALUE`` and the chosen backend's own options as flags), the job and engine flags
(generated from ``RunOptions`` and ``RayOptions``), and turning them into specs."""

from __future__ import annotations

import argparse
import json
from typing import Any, Sequence, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from rlaif.cli.flags import SECTIONS, Flag, add_model_args, given, one_line, table
from rlaif.core.errors import RlaifError

M = TypeVar("M", bound=BaseModel)


def _number(kind: type, low: float, strict: bool, what: str, high: float | None = None):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < low or (strict and value == low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value
    return parse


fraction = _number(float, 0.0, False, "in [0, 1]", high=1.0)


def _flag_value(argv: Sequence[str], option: str) -> str | None:
    """The value of ``option`` on a command line (``--x V`` or ``--x=V``; the last one wins)."""
    value = None
    for i, tok in enumerate(argv):
        if tok == option and i + 1 < len(argv):
            value = argv[i + 1]
        elif tok.startswith(option + "="):
            value = tok[len(option) + 1:]
    return value


def chosen_backend(argv: Sequence[str], role: str):
    """The backend whose options a command line may use as flags: that of ``--judge`` (or of the recipe's
    judge), the embedded judge's without one; None for ``--help`` without a judge (nothing is imported)
    and for a spec that names no backend (the error comes when the spec is used)."""
    from rlaif.cli.recipe import recipe_value
    from rlaif.judges import registry

    spec = _flag_value(argv, f"--{role}")
    if spec is None and (config := _flag_value(argv, "--config")):
        spec = recipe_value(config, role)
    if spec is None and ("-h" in argv or "--help" in argv) or not isinstance(spec, (str, type(None))):
        return None  # a recipe's panel (a list of judges) takes its members' options in the recipe
    try:
        return registry.kind(registry.split_spec(spec)[0])
    except RlaifError:
        return None


def add_judge_args(p: argparse.ArgumentParser, role: str = "judge", panel: bool = False) -> None:
    """``--judge`` (or ``--policy``), ``--judge-opt KEY=VALUE``, and the chosen backend's options as flags;
    ``panel``: ``--judge`` may be repeated, and a recipe's ``judge`` may be a list (``rlaif.cli.panel``)."""
    from rlaif.jobs.spec import PanelMember

    p.add_argument(f"--{role}", dest=f"{role}.spec", default=argparse.SUPPRESS, metavar="SPEC",
                   action="append" if panel else "store",
                   help=f"{role} spec (see 'rlaif judges'); default: embedded"
                   + ("; repeat it for a panel of judges" if panel else ""))
    p.add_argument(f"--{role}-opt", dest=f"{role}.opt", action="append", metavar="KEY=VALUE", default=argparse.SUPPRESS,
                   help=f"an option of the {role}'s backend (repeatable), checked by that backend; "
                   f"'{p.prog} --{role} SPEC --help' lists them as flags")
    keys = table(p)
    keys[role] = Flag(role, f"--{role}", role, "spec",
                      TypeAdapter(str | None | list[str | PanelMember] if panel else str | None))
    keys[f"{role}_options"] = Flag(f"{role}_options", f"--{role}-opt", role, "recipe", TypeAdapter(dict[str, Any]))
    p.set_defaults(_role=role)
    backend = chosen_backend(getattr(p, "argv", ()), role)
    if backend is not None:
        taken = set(p._option_string_actions)  # a backend option never shadows a command's own flag
        skip = tuple(n for n in backend.options.model_fields if "--" + n.replace("_", "-") in taken)
        group = p.add_argument_group(f"options of {role} kind '{backend.prefix}' (also --{role}-opt KEY=VALUE)")
        add_model_args(group, backend.options, f"{role}.flat", skip=skip)


def _opt(text: str, role: str) -> tuple[str, Any]:
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise RlaifError(f"--{role}-opt {text!r}: expected KEY=VALUE")
    return key.strip().replace("-", "_"), json.loads(value) if value[:1] in "[{" else value


def judge_spec(args: argparse.Namespace, role: str = "judge"):
    """The judge spec from ``--judge`` (or ``--policy``), the recipe's options, the backend flags and
    ``--judge-opt`` (later ones win); checked by the backend's options model before anything loads."""
    from rlaif.jobs.spec import JudgeSpec
    from rlaif.judges.registry import check_options

    spec = getattr(args, f"{role}.spec", None)
    options = {**getattr(args, f"{role}.recipe", {}), **given(args, f"{role}.flat")}
    options.update(_opt(t, role) for t in getattr(args, f"{role}.opt", []))
    return JudgeSpec(spec=spec, options=check_options(spec, options))


def unknown_flags(args: argparse.Namespace, extra: list[str]) -> str:
    """The one-line error for flags no part of the command took: a backend option of another backend is
    named as such."""
    from rlaif.judges.registry import kinds

    role = getattr(args, "_role", None)
    flags = [t.split("=")[0] for t in extra if t.startswith("--")]
    if role and flags:
        try:
            names = {n for k in kinds().values() for n in k.options.model_fields}
        except RlaifError:
            names = set()
        for flag in flags:
            if flag[2:].replace("-", "_") in names:
                spec = getattr(args, f"{role}.spec", None) or "embedded"
                spec = ", ".join(spec) if isinstance(spec, list) else spec  # a panel's --judge is repeatable
                return f"{flag} does not apply to {role} '{spec}' (use '--{role} SPEC --help' for its options)"
    return f"unrecognized arguments: {' '.join(extra)}"


def add_job_args(p: argparse.ArgumentParser, input_help: str) -> None:
    """The input and the flags of ``RunOptions``, shared by the resumable batch jobs."""
    from rlaif.jobs.spec import RunOptions

    p.add_argument("input", help=input_help)
    add_model_args(p, RunOptions, "run", table=table(p), skip=("input",), short={"output": "-o"}, required=("output",))


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--engine ray`` and the flags of ``rlaif.distributed.spec.RayOptions``."""
    from rlaif.distributed.spec import RayOptions

    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this process; ray: a pool of Ray actors, OUTPUT is then a folder of Parquet shards")
    g = p.add_argument_group("--engine ray")
    add_model_args(g, RayOptions, "ray", table=table(p), rename={"address": "ray_address"})


def build(model: type[M], args: argparse.Namespace, section: str, **data: Any) -> M:
    """``model`` from the section's flags (and recipe) and ``data``; a bad value is a one-line error naming
    its flag (``--ensemble-k: ...``)."""
    try:
        return model(**{**given(args, section), **data})
    except ValidationError as e:
        loc = e.errors()[0]["loc"]
        flags = getattr(args, SECTIONS, None) or {}
        option = next((f.option for f in flags.values() if f.section == section and loc and f.field == loc[0]),
                      f"--{str(loc[0]).replace('_', '-')}" if loc else None)
        raise RlaifError((f"{option}: " if option else "") + one_line(e)) from None


def run_options(args: argparse.Namespace):
    from rlaif.jobs.spec import RunOptions

    return build(RunOptions, args, "run", input=str(args.input))


def ray_options(args: argparse.Namespace):
    from rlaif.distributed.spec import RayOptions

    return build(RayOptions, args, "ray")
