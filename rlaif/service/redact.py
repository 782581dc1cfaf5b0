"""What the service shows of its own files and servers: none of their paths or URLs. Server paths in an error or a
summary (``/srv/rlaif-data/jobs/ID/input/pairs.jsonl:3 field 'prompt'``) become their last part
(``pairs.jsonl:3 field 'prompt'``), so a message names the client's file, never where the server keeps it; a URL
(a judge server's ``http://user:pass@gpu-box:8000/v1``, which may carry credentials) becomes ``(a server)``."""

from __future__ import annotations

import re

_PART = r"[^\s'\"/:,;()\[\]<>]+"
_PATH = re.compile(rf"(?<![\w.:/~%-])(?:/{_PART})+/({_PART})")  # two or more parts, not inside a URL
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>:;,.)]")  # a trailing ':' or '.' is the text's


def hide_paths(text: str) -> str:
    return _PATH.sub(r"\1", _URL.sub("(a server)", text))
