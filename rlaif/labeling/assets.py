"""Constitutions and prompt templates are data: locating them (shipped folders or a user's YAML path)
and loading them with one-line errors naming the file and field. The one loader for both."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rlaif.core.errors import RlaifError, first_error

_PKG = Path(__file__).resolve().parents[1]  # the rlaif package folder
M = TypeVar("M", bound=BaseModel)


def resource_dir(name: str) -> Path:
    """The ``name`` folder: inside the installed package, or beside it in a source checkout."""
    for cand in (_PKG / "assets" / name, _PKG.parent / name):
        if cand.is_dir():
            return cand
    raise FileNotFoundError(f"rlaif data folder '{name}' not found beside {_PKG}")


def available(folder: str, exclude: tuple[str, ...] = ()) -> list[str]:
    """Names of the YAML files shipped in ``folder``."""
    return sorted(p.stem for p in resource_dir(folder).glob("*.yaml") if p.stem not in exclude)


def find(folder: str, name_or_path: str, what: str, exclude: tuple[str, ...] = ()) -> Path:
    """A YAML path given as such, or the file ``name`` in the shipped ``folder``."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = resource_dir(folder) / f"{name_or_path}.yaml"
        if not path.exists() or name_or_path in exclude:
            raise RlaifError(f"unknown {what} '{name_or_path}' (available: {', '.join(available(folder, exclude))})")
    if not path.exists():
        raise RlaifError(f"{path}: no such {what} file")
    return path


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping, or a one-line error naming the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise RlaifError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RlaifError(f"{path}: expected a YAML mapping of fields")
    return data


def read_text_file(path: Path, cfg: dict[str, Any], key: str) -> str | None:
    """The text of the file that field ``key`` names (relative to the YAML file), or None if unset."""
    if not cfg.get(key):
        return None
    f = path.parent / cfg[key]
    if not f.exists():
        raise RlaifError(f"{path} field '{key}': file {f} not found")
    return f.read_text(encoding="utf-8")


def validate(model: type[M], data: dict[str, Any], path: Path) -> M:
    """``model`` from ``data``, or a one-line error naming the file and the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        loc, msg = first_error(e.errors())
        raise RlaifError(f"{path}: field '{loc}': {msg}") from None


def check_placeholders(text: str, path: Path, expected: frozenset[str]) -> None:
    """Refuse template text whose ``{placeholders}`` are not exactly ``expected``."""
    try:
        found = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as e:
        raise RlaifError(f"{path}: bad placeholder syntax ({e}); write literal braces as {{{{ }}}}") from None
    if found != expected:
        missing, extra = expected - found, found - expected
        raise RlaifError(f"{path}: placeholders must be exactly {sorted(expected)}"
                         f" (missing {sorted(missing)}, unknown {sorted(extra)})")
