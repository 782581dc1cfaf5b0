"""``rlaif label --method sample``: the flags of sampled soft labels, turned into ``SampledLabels``."""

from __future__ import annotations

import argparse
from typing import Any

from rlaif.core.errors import RlaifError
from rlaif.cli.options import build, fraction, positive_float, positive_int

FLAGS = {"samples": "samples", "temperature": "temperature", "sample_tokens": "max_new_tokens",
         "sample_seed": "seed", "auto_step": "auto_step", "auto_max": "auto_max", "auto_width": "auto_width"}


def samples(text: str) -> int | str:
    return "auto" if text == "auto" else positive_int(text)


def add_sample_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampled labels (--method sample)")
    g.add_argument("--samples", type=samples, default=None, help="sampled answers per prompt (default 32), or 'auto': "
                   "rounds of --auto-step until the 95%% interval of p_a excludes 1/2 or is narrower than --auto-width")
    g.add_argument("--temperature", type=positive_float, default=None, help="sampling temperature (default 1)")
    g.add_argument("--sample-tokens", type=positive_int, default=None, help="longest sampled answer in tokens (default 8)")
    g.add_argument("--sample-seed", type=int, default=None, help="sampling seed (default 0)")
    g.add_argument("--auto-step", type=positive_int, default=None, help="--samples auto: answers per round (default 8)")
    g.add_argument("--auto-max", type=positive_int, default=None, help="--samples auto: most answers per prompt (default 64)")
    g.add_argument("--auto-width", type=fraction, default=None, help="--samples auto: stop below this interval width (default 0.2)")


def sample_settings(args: argparse.Namespace) -> Any:
    """``SampledLabels`` from the flags given (None without --method sample; a flag given then is an error)."""
    from rlaif.labeling.sampled import SampledLabels

    given = {field: getattr(args, flag) for flag, field in FLAGS.items() if getattr(args, flag, None) is not None}
    if args.method != "sample":
        if given:
            flag = next(f for f, field in FLAGS.items() if field in given)
            raise RlaifError(f"--{flag.replace('_', '-')} needs --method sample")
        return None
    return build(SampledLabels, **given)
