"""``rlaif label --reasoning FORMAT``: the flags of a reasoning judge (generated from ``Reasoning``), turned into
``Reasoning``."""

from __future__ import annotations

import argparse
from typing import Any

from rlaif.cli.flags import add_model_args, given, option_of, table
from rlaif.cli.options import build
from rlaif.core.errors import RlaifError

RENAME = {"format": "reasoning", "budget": "reasoning_budget", "effort": "reasoning_effort"}


def add_reasoning_args(p: argparse.ArgumentParser) -> None:
    from rlaif.judges.thinking import Reasoning

    g = p.add_argument_group("reasoning judges (--reasoning FORMAT)")
    add_model_args(g, Reasoning, "reasoning", table=table(p), rename=RENAME)


def reasoning_settings(args: argparse.Namespace) -> Any:
    """``Reasoning`` from the flags given (None without --reasoning; --reasoning-budget or -effort alone is an
    error)."""
    from rlaif.judges.thinking import Reasoning

    typed = given(args, "reasoning")
    if not typed:
        return None
    if "format" not in typed:
        raise RlaifError(f"{option_of(args, 'reasoning', typed)} needs --reasoning think|harmony|openai")
    return build(Reasoning, args, "reasoning")
