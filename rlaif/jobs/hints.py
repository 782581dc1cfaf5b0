"""Errors that a job setting gets past (``skip_invalid``, ``repair``), worded by the caller: the CLI names
its flag, the service its request field; the runner names only the setting."""

from __future__ import annotations

from rlaif.core.errors import RlaifError


class SettingNeeded(RlaifError):
    """``text`` holds ``{how}`` where the advice to turn on ``setting`` goes."""

    def __init__(self, text: str, setting: str):
        self.text, self.setting = text, setting
        super().__init__(self.worded(f"set {setting}"))

    def worded(self, how: str) -> str:
        return self.text.format(how=how)

    def as_flag(self) -> RlaifError:
        """The error in a command line's words: ``pass --skip-invalid``."""
        return RlaifError(self.worded(f"pass --{self.setting.replace('_', '-')}"))


def braces(text: str) -> str:
    """``text`` as a literal part of a ``SettingNeeded`` text (its braces escaped)."""
    return text.replace("{", "{{").replace("}", "}}")
