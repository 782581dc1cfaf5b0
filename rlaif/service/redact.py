"""What the service shows of its own files: none of their paths. Server paths in an error or a summary
(``/srv/rlaif-data/jobs/ID/input/pairs.jsonl:3 field 'prompt'``) become their last part
(``pairs.jsonl:3 field 'prompt'``), so a message names the client's file, never where the server keeps it."""

from __future__ import annotations

import re

_PART = r"[^\s'\"/:,;()\[\]<>]+"
_PATH = re.compile(rf"(?<![\w.:/~%-])(?:/{_PART})+/({_PART})")  # two or more parts, not inside a URL


def hide_paths(text: str) -> str:
    return _PATH.sub(r"\1", text)
