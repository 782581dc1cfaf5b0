"""``rlaif judges`` and ``rlaif constitutions``: what there is to choose from."""

from __future__ import annotations

import argparse

from rlaif.core.errors import RlaifError


def judges_args(p: argparse.ArgumentParser) -> None:
    pass


def judges(args: argparse.Namespace) -> int:
    from rlaif.judges import EMBEDDED_ENGINE, embedded_gguf, listing

    for k, v in listing().items():
        print(f"{k:16s} {v}")
    try:
        print(f"\nembedded: {embedded_gguf()} (engine: {EMBEDDED_ENGINE})")
    except RlaifError as e:
        print(f"\nembedded: unavailable ({e})")
    return 0


def constitutions_args(p: argparse.ArgumentParser) -> None:
    pass


def constitutions(args: argparse.Namespace) -> int:
    from rlaif.labeling.constitutions import available, load_constitution

    for name in available():
        c = load_constitution(name)
        print(f"{c.name}: {c.description}")
        for p in c.principles:
            print(f"  - {p.name}: {p.text}")
    return 0
