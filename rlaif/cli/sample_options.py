"""``rlaif label --method sample``: the flags of sampled soft labels (generated from ``SampledLabels``), turned
into ``SampledLabels``."""

from __future__ import annotations

import argparse
from typing import Any

from rlaif.cli.flags import add_model_args, given, option_of, table
from rlaif.cli.options import build
from rlaif.core.errors import RlaifError

RENAME = {"max_new_tokens": "sample_tokens", "seed": "sample_seed"}  # the labeler has its own --seed


def add_sample_args(p: argparse.ArgumentParser) -> None:
    from rlaif.labeling.sampled import SampledLabels

    g = p.add_argument_group("sampled labels (--method sample)")
    add_model_args(g, SampledLabels, "sampling", table=table(p), rename=RENAME)


def sample_settings(args: argparse.Namespace) -> Any:
    """``SampledLabels`` from the flags given (None without --method sample; a flag given then is an error)."""
    from rlaif.labeling.sampled import SampledLabels

    typed = given(args, "sampling")
    if getattr(args, "labeler.method", "logprob") != "sample":
        if typed:
            raise RlaifError(f"{option_of(args, 'sampling', typed)} needs --method sample")
        return None
    return build(SampledLabels, args, "sampling")
