"""The one error type the CLI turns into a one-line message."""


class RlaifError(Exception):
    """A user-facing error: its message is one line naming the file, row and field at fault."""


def where(path: object, row: int | None = None, field: str | None = None) -> str:
    """Format a location as ``file:row field 'x'`` for error messages (row is 1-based)."""
    loc = str(path)
    if row is not None:
        loc += f":{row}"
    if field is not None:
        loc += f" field '{field}'"
    return loc
