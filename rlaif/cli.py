"""The ``rlaif`` console script. Errors print as one line (``rlaif: error: ...``) with exit code 2."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from typing import Any, Callable

from rlaif.core.errors import RlaifError

COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str):
    """Register a subcommand: the decorated function adds arguments, ``run`` executes it."""
    def deco(add_args: Callable[[argparse.ArgumentParser], None]):
        add_args.help = help  # type: ignore[attr-defined]

        def with_run(run: Callable[[argparse.Namespace], int]):
            COMMANDS[name] = (add_args, run)
            return run
        add_args.run = with_run  # type: ignore[attr-defined]
        return add_args
    return deco


def _number(kind: type, low: float, strict: bool, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value
    return parse


positive_int = _number(int, 1, False, "a whole number of at least 1")
non_negative_int = _number(int, 0, False, "a whole number of at least 0")
positive_float = _number(float, 0.0, True, "a number above 0")


def fraction(text: str) -> float:
    """An argparse type: a number in [0, 1]."""
    value = _number(float, 0.0, False, "in [0, 1]")(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1]")
    return value


def add_judge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--judge", default=None, help="judge spec (see 'rlaif judges'); default: embedded")
    p.add_argument("--base-url", default=None, help="openai judges: server URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--api-key", default=None, help="openai judges: API key (default: $OPENAI_API_KEY at call time)")
    p.add_argument("--concurrency", type=int, default=None, help="openai judges: requests in flight (default 8)")
    p.add_argument("--endpoint", choices=["chat", "completions"], default=None,
                   help="openai judges: chat (default) or plain completions (needs --tokenizer)")
    p.add_argument("--tokenizer", default=None,
                   help="openai judges: local tokenizer dir or GGUF for completions rendering, token counts, exact label ids")
    p.add_argument("--exact-label-ids", action="store_true", default=None,
                   help="openai judges on vLLM servers: request exact label-token log-probs (logprob_token_ids)")
    p.add_argument("--timeout", type=positive_float, default=None,
                   help="openai judges: seconds without a byte from the server before a request is retried (default 60)")
    p.add_argument("--max-retries", type=non_negative_int, default=None,
                   help="openai judges: retries of a failed request before the job stops (default 4)")
    p.add_argument("--n-ctx", type=int, default=None, help="llamacpp judges: context window in tokens")
    p.add_argument("--batch-size", type=int, default=None, help="hf judges: prompts per forward pass")


def add_job_args(p: argparse.ArgumentParser) -> None:
    """Options shared by the resumable batch jobs (label, score)."""
    p.add_argument("--limit", type=positive_int, default=None, help="process only the first N rows")
    p.add_argument("--split", default=None, help="split of a saved DatasetDict")
    p.add_argument("--chunk-size", type=positive_int, default=8, help="rows per durable write")
    p.add_argument("--skip-invalid", action="store_true", help="write bad input rows with the reason and go on "
                   "(they are tried again on every run, so a fixed row gets labelled)")
    p.add_argument("--repair", action="store_true", help="move unreadable lines and repeated ids of an existing "
                   "OUTPUT to OUTPUT.rejected.jsonl instead of stopping")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def judge_options(args: argparse.Namespace) -> dict[str, Any]:
    spec = args.judge or "embedded"
    kind = spec.split(":")[0]
    opts: dict[str, Any] = {}
    remote = ("base_url", "api_key", "concurrency", "endpoint", "tokenizer", "exact_label_ids", "timeout", "max_retries")
    pairs = {"openai": remote, "llamacpp": ("n_ctx",), "embedded": ("n_ctx",), "hf": ("batch_size",)}
    for name in remote + ("n_ctx", "batch_size"):
        val = getattr(args, name, None)
        if val is None:
            continue
        if name not in pairs.get(kind, ()):
            raise RlaifError(f"--{name.replace('_', '-')} does not apply to judge '{spec}'")
        opts[name] = val
    return opts


@command("label", "label preference pairs with soft labels P(response_a preferred)")
def _label_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="pairs: .jsonl, .parquet, .csv or a saved Hugging Face dataset folder")
    p.add_argument("-o", "--output", required=True, help="output .jsonl or .parquet (re-run to resume)")
    p.add_argument("--constitution", default="harmless", help="constitution name or YAML path")
    p.add_argument("--template", default="pairwise", help="prompt template name or YAML path")
    p.add_argument("--principles", default="sample", help="sample | all | PRINCIPLE_NAME")
    p.add_argument("--ensemble-k", type=int, default=None, help="with --principles all: k seeded principles per pair")
    p.add_argument("--seed", type=int, default=0, help="principle sampling seed")
    p.add_argument("--cot", action="store_true", help="generate a rationale first, then score the label")
    p.add_argument("--cot-max-tokens", type=int, default=128, help="rationale length limit")
    p.add_argument("--shots", type=int, default=0, help="few-shot exemplars")
    p.add_argument("--orders", choices=["both", "ab"], default="both", help="both orders (debiased) or one")
    p.add_argument("--method", choices=["logprob", "parse"], default="logprob",
                   help="logprob: soft labels from label-token log-probs; parse: generate-and-parse baseline")
    p.add_argument("--calibration", default=None, help="calibration JSON from 'rlaif calibrate' to apply to p_a")
    p.add_argument("--max-prompt-tokens", type=int, default=None, help="cut longer contexts from the left")
    add_job_args(p)
    add_judge_args(p)


@_label_args.run
def _label(args: argparse.Namespace) -> int:
    from rlaif.jobs.runner import run_job
    from rlaif.judges import load_judge
    from rlaif.labeling.labeler import Labeler, LabelerConfig

    cfg = LabelerConfig(constitution=args.constitution, template=args.template, principles=args.principles,
                        ensemble_k=args.ensemble_k, seed=args.seed, cot=args.cot,
                        cot_max_tokens=args.cot_max_tokens, shots=args.shots, orders=args.orders,
                        max_prompt_tokens=args.max_prompt_tokens, method=args.method)
    opts = judge_options(args)
    from rlaif.labeling.constitutions import load_constitution
    from rlaif.labeling.prompts import load_template

    load_constitution(cfg.constitution)  # fail on a bad name before loading a model
    load_template(cfg.template)
    from rlaif.evaluation.calibration import Calibration
    from rlaif.core.schema import INVALID_INPUT

    cal = Calibration.load(args.calibration) if args.calibration else None
    labeler = Labeler(load_judge(args.judge, **opts), cfg, calibration=cal)

    def invalid_row(rid: str, msg: str) -> dict[str, Any]:
        return {"id": rid, "prompt": "", "response_a": "", "response_b": "", "human_label": None,
                "p_a": math.nan, "p_a_first": math.nan, "p_a_second": math.nan, "consistent": None,
                "p_a_principles": [], "principles": [], "rationales": None, "truncated": False,
                "error": INVALID_INPUT + msg, "judge": labeler.judge.judge_id,
                "constitution": labeler.constitution.name, "template": labeler.template.tag,
                "config_hash": labeler.config_hash}

    def usage() -> dict[str, Any]:
        u = labeler.judge.usage
        return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                "requests": u.requests, "retries": u.retries, **{k: round(v, 4) for k, v in u.extra.items()}}

    summary = run_job(args.input, args.output, labeler.label, labeler.config_hash, limit=args.limit,
                      split=args.split, chunk_size=args.chunk_size, skip_invalid=args.skip_invalid,
                      invalid_row=invalid_row, usage=usage, progress=not args.no_progress, repair=args.repair)
    print("\n".join(summary.lines()))
    return 0


@command("judges", "list the judge kinds and the embedded judge's location")
def _judges_args(p: argparse.ArgumentParser) -> None:
    pass


@_judges_args.run
def _judges(args: argparse.Namespace) -> int:
    from rlaif.judges import EMBEDDED_ENGINE, JUDGE_KINDS, embedded_gguf

    for k, v in JUDGE_KINDS.items():
        print(f"{k:16s} {v}")
    try:
        print(f"\nembedded: {embedded_gguf()} (engine: {EMBEDDED_ENGINE})")
    except RlaifError as e:
        print(f"\nembedded: unavailable ({e})")
    return 0


@command("constitutions", "list constitutions and their principles")
def _const_args(p: argparse.ArgumentParser) -> None:
    pass


@_const_args.run
def _const(args: argparse.Namespace) -> int:
    from rlaif.labeling.constitutions import available, load_constitution

    for name in available():
        c = load_constitution(name)
        print(f"{c.name}: {c.description}")
        for p in c.principles:
            print(f"  - {p.name}: {p.text}")
    return 0


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (``rlaif label: error: ...``), exit code 2; ``--help`` shows the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="rlaif", description="Soft preference labels from a judge LLM (RLAIF).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name, (add_args, run) in COMMANDS.items():
        p = sub.add_parser(name, help=add_args.help, description=add_args.help)  # type: ignore[attr-defined]
        add_args(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    import_optional_commands()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="rlaif: %(message)s")  # retries show on stderr
    try:
        return args._run(args)
    except RlaifError as e:
        print(f"rlaif: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlaif: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


def import_optional_commands() -> None:
    """Modules that register more subcommands (kept out of this file to keep it small)."""
    import importlib

    for mod in ("rlaif.cli_eval", "rlaif.cli_train"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


if __name__ == "__main__":
    sys.exit(main())
