"""Constitutions, templates and recipes a client may name over HTTP: the shipped ones and those an operator
put in ``DATA/assets/constitutions/NAME.yaml`` or ``DATA/assets/prompts/NAME.yaml`` (these win over a
shipped one of the same name), and the operator's recipes ``DATA/assets/recipes/NAME.yaml`` (labeler or
scorer settings in one file). A client names one; it never gives a path, so no request makes the server
read a file of its choosing, and an unknown name gets the same answer whatever exists on disk."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rlaif.core.errors import RlaifError
from rlaif.labeling import assets as shipped

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# setting -> (asset folder, what it is, shipped names left out)
SETTINGS = {"constitution": ("constitutions", "constitution", ()), "template": ("prompts", "template", ("exemplars",))}


class AssetRegistry:
    def __init__(self, data_dir: Path):
        self.root = Path(data_dir) / "assets"

    def _registered(self, folder: str) -> dict[str, Path]:
        d = self.root / folder
        return {p.stem: p for p in sorted(d.glob("*.yaml")) if p.is_file()} if d.is_dir() else {}

    def names(self, folder: str, exclude: tuple[str, ...] = ()) -> list[str]:
        return sorted(set(shipped.available(folder, exclude)) | set(self._registered(folder)))

    def resolve(self, setting: str, value: str) -> str:
        """What the labeler or scorer is given for a client's ``value``: a shipped name, or the path of
        the operator's file of that name; anything else (a path, an unknown name) is refused."""
        folder, what, exclude = SETTINGS[setting]
        mine = self._registered(folder)
        if value in mine:
            return str(mine[value].resolve())
        if value in shipped.available(folder, exclude):
            return value
        said = repr(value) if _NAME.match(value) else "(a name is expected, never a path)"
        raise RlaifError(f"settings.{setting}: unknown {what} {said}; available: {', '.join(self.names(folder, exclude))}")

    def recipe(self, name: str) -> dict[str, Any]:
        """The settings of the operator's recipe ``name`` (the judge is the server's: a recipe naming one is refused)."""
        import yaml

        mine = self._registered("recipes")
        if name not in mine:
            said = repr(name) if _NAME.match(name) else "(a name is expected, never a path)"
            raise RlaifError(f"recipe: unknown recipe {said}; available: {', '.join(mine) or 'none'}")
        try:
            data = yaml.safe_load(mine[name].read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise RlaifError(f"recipe: '{name}' cannot be read ({type(e).__name__})") from None
        if not isinstance(data, dict) or {"judge", "judge_options"} & set(data):
            raise RlaifError(f"recipe: '{name}' must be a mapping of settings (this server's judge is fixed at start)")
        return data

    def settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """``settings`` with each asset name resolved (other values are left to the config's validation)."""
        out = dict(settings)
        for key in SETTINGS:
            if isinstance(out.get(key), str):
                out[key] = self.resolve(key, out[key])
        return out
