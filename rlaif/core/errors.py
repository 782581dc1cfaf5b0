"""The one error type the CLI turns into a one-line message, and the one way a validation error becomes one."""


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


def first_error(errors: list[dict]) -> tuple[str, str]:
    """(where, what) of the first of pydantic's validation ``errors`` (``ValidationError.errors()``): the
    location dotted ("principles.0.name", "" for the model itself) and the message without pydantic's
    "Value error, " prefix. The one way a bad value becomes one line (CLI, files, HTTP settings)."""
    err = errors[0] if errors else {"loc": (), "msg": "invalid"}
    return ".".join(str(x) for x in err.get("loc", ())), str(err.get("msg", "invalid")).removeprefix("Value error, ")
