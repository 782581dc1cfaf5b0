"""What every output row records about how it was made: the settings fingerprint (``config_hash``, one
formula over each kind's JSON-able blob) and the judge/constitution/template provenance."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def fingerprint(blob: Any) -> str:
    """16 hex digits of the SHA-256 of ``blob`` as sorted-key JSON (non-JSON values as their ``str``).

    Each kind's blob is fixed since its first release (``label_hash``, ``score_hash``, ``generate_hash``),
    so outputs written by earlier versions keep resuming."""
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def judged_by(judge_id: str, constitution: Any, template: Any, config_hash: str) -> dict[str, str]:
    """The provenance of a label or score row: judge, constitution name, template tag, config_hash."""
    return {"judge": judge_id, "constitution": constitution.name, "template": template.tag, "config_hash": config_hash}
