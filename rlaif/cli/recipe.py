"""``--config FILE.yaml``: a recipe, i.e. the judge, its options, the constitution, the template and the
other settings of a command in one file (as alpaca_eval's evaluator configs). Its keys are the command's flag
names with underscores (``judge``, ``judge_options``, ``constitution``, ``samples``, ``port``, ...); a flag
typed on the command line wins over the file; an unknown key or a bad value is a one-line error naming it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rlaif.cli.flags import SECTIONS, one_line
from rlaif.core.errors import RlaifError


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.yaml", default=None,
                   help="a recipe: any of these options as YAML keys (flag names with underscores; judge_options: "
                   "a mapping); flags on the command line win")


def read_recipe(path: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise RlaifError(f"{path}: cannot read the recipe ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise RlaifError(f"{path}: not YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RlaifError(f"{path}: a recipe is a mapping of option names to values")
    return data


def recipe_value(path: str, key: str) -> Any:
    """One key of a recipe, None where it has none or cannot be read (``apply_recipe`` says why)."""
    try:
        return read_recipe(path).get(key)
    except RlaifError:
        return None


def apply_recipe(args: argparse.Namespace) -> None:
    """Fill the options not typed on the command line from ``--config``, each checked as its flag is."""
    path = getattr(args, "config", None)
    if not path:
        return
    keys = getattr(args, SECTIONS, None) or {}
    for key, value in read_recipe(path).items():
        flag = keys.get(str(key).replace("-", "_"))
        if flag is None:
            raise RlaifError(f"{path}: unknown key '{key}' (keys: {', '.join(sorted(keys))})")
        try:
            value = flag.check.validate_python(value)
        except ValidationError as e:
            raise RlaifError(f"{path}: key '{key}': {one_line(e)}") from None
        if not hasattr(args, flag.dest):
            setattr(args, flag.dest, value)
