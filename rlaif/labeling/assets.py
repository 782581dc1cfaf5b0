"""Locate the data folders (constitutions/, prompts/) shipped with the package."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parents[1]  # the rlaif package folder


def resource_dir(name: str) -> Path:
    """The ``name`` folder: inside the installed package, or beside it in a source checkout."""
    for cand in (_PKG / "assets" / name, _PKG.parent / name):
        if cand.is_dir():
            return cand
    raise FileNotFoundError(f"rlaif data folder '{name}' not found beside {_PKG}")
