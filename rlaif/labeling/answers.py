"""Reading a pairwise label out of generated text (the parse baseline and sampled labels share it)."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=64)
def _pattern(labels: tuple[str, str]) -> re.Pattern[str]:
    return re.compile(r"(?<![0-9A-Za-z])(" + "|".join(re.escape(x) for x in labels) + r")(?![0-9A-Za-z])")


def read_label(text: str, labels: tuple[str, str]) -> int | None:
    """The slot (0 for ``labels[0]``, 1 for ``labels[1]``) of the first label standing alone in ``text``
    (not inside a longer word or number: "12" is neither "1" nor "2"), or None when there is none."""
    m = _pattern(tuple(labels)).search(text)
    return None if m is None else (0 if m.group(1) == labels[0] else 1)
