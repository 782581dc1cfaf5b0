"""The ``rlaif`` console script: an explicit table of subcommands, each a pair of functions (its
arguments, its run) in a module of ``rlaif.cli``. Usage errors and user errors print as one line
(``rlaif: error: ...``) with exit code 2."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from rlaif.cli.recipe import apply_recipe
from rlaif.core.errors import RlaifError

# name -> (module, function, help); the module has FUNCTION_args(parser) and FUNCTION(args) -> exit code
COMMANDS: dict[str, tuple[str, str, str]] = {
    "generate": ("rlaif.cli.jobs", "generate", "sample n candidate responses per prompt from a policy"),
    "label": ("rlaif.cli.jobs", "label", "label preference pairs with soft labels P(response_a preferred)"),
    "score": ("rlaif.cli.jobs", "score", "rate single responses 1-10 with the judge (direct RLAIF); writes score, "
              "reward in [-1, 1]"),
    "rank": ("rlaif.cli.rank", "rank", "rank each prompt's candidates: Bradley-Terry on soft labels, or judge scores"),
    "compare": ("rlaif.cli.evaluate", "compare", "compare AI soft labels with human labels; writes a Markdown/HTML "
                "report with plots"),
    "calibrate": ("rlaif.cli.evaluate", "calibrate", "fit a temperature (and bias) to human labels; report ECE "
                  "before/after on held-out rows"),
    "train-rm": ("rlaif.cli.train", "train_rm", "train a distilled reward model on soft labels (soft Bradley-Terry "
                 "loss)"),
    "eval-rm": ("rlaif.cli.train", "eval_rm", "pairwise accuracy of a reward model against human labels, with a "
                "95%% interval"),
    "export-dpo": ("rlaif.cli.train", "export_dpo", "write a TRL preference dataset oriented by the AI labels (with "
                   "soft probabilities)"),
    "train-dpo": ("rlaif.cli.train", "train_dpo", "DPO on an exported dataset: soft per-example targets (default) or "
                  "plain"),
    "serve": ("rlaif.cli.serve", "serve", "serve labels, scores and rewards over HTTP from one loaded judge"),
    "keys": ("rlaif.cli.serve", "keys", "add, list or revoke the service's API keys"),
    "judges": ("rlaif.cli.info", "judges", "list the judge kinds and the embedded judge's location"),
    "constitutions": ("rlaif.cli.info", "constitutions", "list constitutions and their principles"),
}


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (``rlaif label: error: ...``), exit code 2; ``--help`` shows the usage.
    ``argv`` is the command line being parsed: a job command offers the options of the judge it names."""

    argv: Sequence[str] = ()

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser of ``argv``: every command is listed, and the options of the one ``argv`` names are added
    (importing only that command's module: the others' may be heavier)."""
    parser = OneLineParser(prog="rlaif", description="Soft preference labels from a judge LLM (RLAIF).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, func, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            p.argv = list(argv)
            mod = importlib.import_module(module)
            getattr(mod, f"{func}_args")(p)
            p.set_defaults(_run=getattr(mod, func), _parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extra = build_parser(argv).parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING, format="rlaif: %(message)s")  # retries show on stderr
    try:
        if extra:
            from rlaif.cli.options import unknown_flags

            args._parser.error(unknown_flags(args, extra))
        apply_recipe(args)
        return args._run(args)
    except RlaifError as e:
        print(f"rlaif: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlaif: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
