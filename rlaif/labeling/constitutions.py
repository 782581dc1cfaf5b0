"""Constitutions: a preamble plus named principles, kept as YAML files in ``constitutions/``.

A labeler uses one fixed principle, samples one per comparison (seeded by the row id, so a re-run
or a resumed run picks the same one, as in Constitutional AI), or ensembles over k principles.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from rlaif.core.errors import RlaifError
from rlaif.labeling.assets import resource_dir


class Principle(BaseModel):
    name: str = Field(description="Short unique name, used with --principles NAME.", min_length=1)
    text: str = Field(description="The principle the judge applies.", min_length=1)


class Constitution(BaseModel):
    name: str = Field(description="Constitution name (matches the file name).", min_length=1)
    description: str = Field("", description="One line on what the constitution prefers.")
    preamble: str = Field(description="Instructions shown to the judge before each principle.", min_length=1)
    principles: list[Principle] = Field(description="At least one principle.", min_length=1)

    @field_validator("principles")
    @classmethod
    def _unique(cls, v: list[Principle]) -> list[Principle]:
        names = [p.name for p in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"principle names repeat: {sorted(dup)}")
        return v

    def principle(self, name: str) -> Principle:
        for p in self.principles:
            if p.name == name:
                return p
        raise RlaifError(f"constitution '{self.name}' has no principle '{name}' "
                         f"(has: {', '.join(p.name for p in self.principles)})")

    def select(self, mode: str, row_id: str, seed: int = 0, k: int | None = None) -> list[Principle]:
        """Principles for one comparison.

        mode "sample": one principle drawn with a RNG seeded by (seed, row_id);
        mode "all": every principle, or k of them drawn the same seeded way when k is given;
        any other mode is a principle name.
        """
        if mode not in ("sample", "all"):
            return [self.principle(mode)]
        digest = hashlib.sha256(f"{seed}:{row_id}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        if mode == "sample":
            return [rng.choice(self.principles)]
        if k is None or k >= len(self.principles):
            return list(self.principles)
        return sorted(rng.sample(self.principles, k), key=self.principles.index)


def available() -> list[str]:
    return sorted(p.stem for p in resource_dir("constitutions").glob("*.yaml"))


def load_constitution(name_or_path: str) -> Constitution:
    """Load a constitution by name (from ``constitutions/``) or by YAML path, validating it."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = resource_dir("constitutions") / f"{name_or_path}.yaml"
        if not path.exists():
            raise RlaifError(f"unknown constitution '{name_or_path}' (available: {', '.join(available())})")
    if not path.exists():
        raise RlaifError(f"{path}: no such constitution file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise RlaifError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RlaifError(f"{path}: expected a mapping with name, preamble and principles")
    try:
        return Constitution.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise RlaifError(f"{path}: field '{field}': {err['msg']}") from None
