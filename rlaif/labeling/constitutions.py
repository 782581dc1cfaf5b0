"""Constitutions: a preamble plus named principles, kept as YAML files in ``constitutions/``.

A labeler uses one fixed principle, samples one per comparison (seeded by the row id, so a re-run
or a resumed run picks the same one, as in Constitutional AI), or ensembles over k principles.
"""

from __future__ import annotations

import hashlib
import random

from pydantic import BaseModel, Field, field_validator

from rlaif.core.errors import RlaifError
from rlaif.labeling import assets


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
    return assets.available("constitutions")


def load_constitution(name_or_path: str) -> Constitution:
    """Load a constitution by name (from ``constitutions/``) or by YAML path, validating it."""
    path = assets.find("constitutions", name_or_path, "constitution")
    return assets.validate(Constitution, assets.read_yaml(path), path)
