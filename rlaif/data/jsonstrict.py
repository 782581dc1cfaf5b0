"""Strict JSON values: what Python's ``json`` accepts but strict JSON and UTF-8 do not (a lone surrogate
such as ``"\\ud800"``, ``NaN``, ``Infinity``), found in a parsed value and named by its location."""

from __future__ import annotations

import json
import math
from typing import Any


class NonFinite:
    """Stands where the parsed text had ``NaN``, ``Infinity`` or ``-Infinity``."""

    def __init__(self, token: str):
        self.token = token


def loads_marked(text: str | bytes) -> Any:
    """``json.loads`` with every non-finite constant left as a ``NonFinite`` marker."""
    return json.loads(text, parse_constant=NonFinite)


def _lone_surrogate(s: str) -> str | None:
    try:
        s.encode("utf-8")
        return None
    except UnicodeEncodeError as e:
        return s[e.start]


def _dotted(path: list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def where(path: list[str | int], root: str = "") -> str:
    """The location of ``path`` (keys and list positions): ``pairs[0] field 'prompt'`` in a request body,
    ``FILE:LINE field 'prompt'`` under a ``root`` such as a file's line."""
    if root:
        return f"{root} field '{_dotted(path)}'" if path else root
    last_int = max((i for i, p in enumerate(path) if isinstance(p, int)), default=-1)
    item, field = path[:last_int + 1], path[last_int + 1:]
    if item and field:
        return f"{_dotted(item)} field '{_dotted(field)}'"
    return _dotted(path) or "body"


def problem(value: Any, root: str = "", non_finite: bool = True) -> str | None:
    """One line naming the first lone surrogate in ``value`` (and, with ``non_finite``, the first NaN or
    Infinity), or None."""
    stack: list[tuple[list[str | int], Any]] = [([], value)]
    while stack:
        path, v = stack.pop()
        if non_finite and (isinstance(v, NonFinite) or (isinstance(v, float) and not math.isfinite(v))):
            token = v.token if isinstance(v, NonFinite) else repr(v)
            return f"{where(path, root)}: {token} is not valid JSON (use null or a finite number)"
        if isinstance(v, str):
            if (ch := _lone_surrogate(v)) is not None:
                return f"{where(path, root)}: a lone surrogate ({ascii(ch)[1:-1]}) is not valid Unicode text"
        elif isinstance(v, dict):
            for k in reversed(list(v)):
                if isinstance(k, str) and (ch := _lone_surrogate(k)) is not None:
                    return f"{where(path, root)}: a key with a lone surrogate ({ascii(ch)[1:-1]}) is not valid Unicode"
                stack.append((path + [k], v[k]))
        elif isinstance(v, list):
            stack.extend((path + [i], x) for i, x in reversed(list(enumerate(v))))
    return None
