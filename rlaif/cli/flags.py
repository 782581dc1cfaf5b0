"""Command-line options generated from pydantic models: one flag per field, with its type, choices, range
check, default and help taken from the field, so each setting is declared once (in its config model).

A generated flag has no argparse default: the namespace holds only what was typed (``given``), a recipe
file (``--config``) fills the rest of a section, and the model fills what neither gave.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from rlaif.core.errors import first_error

SECTIONS = "_sections"  # parser default: key -> Flag, every generated flag of the command (for recipes)


@dataclass(frozen=True)
class Flag:
    """One generated flag: the recipe key and command-line option of ``section.field``."""

    key: str
    option: str
    section: str
    field: str
    check: TypeAdapter

    @property
    def dest(self) -> str:
        return f"{self.section}.{self.field}"


def one_line(e: ValidationError) -> str:
    """The first problem of a pydantic error, as one line (``core.errors.first_error``'s message)."""
    return first_error(e.errors())[1]


def _plain(annotation: Any) -> Any:
    """``X`` for ``X | None``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation


def _scalar(annotation: Any) -> bool:
    plain = _plain(annotation)
    if typing.get_origin(plain) in (typing.Union, types.UnionType):
        return all(_scalar(a) for a in typing.get_args(plain))
    if typing.get_origin(plain) is typing.Annotated:
        return _scalar(typing.get_args(plain)[0])
    return plain in (str, int, float, bool) or typing.get_origin(plain) is Literal


def adapter(f: FieldInfo) -> TypeAdapter:
    """Checks one value of the field (its type and range), as the model would."""
    return TypeAdapter(typing.Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation)


def _parse(check: TypeAdapter):
    def parse(text: str) -> Any:
        try:
            return check.validate_python(text)
        except ValidationError as e:
            raise argparse.ArgumentTypeError(f"{text!r}: {one_line(e)[:1].lower()}{one_line(e)[1:]}") from None
    return parse


def _help(f: FieldInfo) -> str:
    text = (f.description or "").replace("%", "%%")
    if f.default is True:
        text += " (on by default: this flag turns it off)"
    elif f.default is not None and not isinstance(f.default, bool) and f.default != "" and not f.is_required():
        text += f" (default: {f.default})"
    return text


def add_model_args(p: argparse.ArgumentParser | argparse._ArgumentGroup, model: type[BaseModel], section: str, *,
                   table: dict[str, Flag] | None = None, rename: dict[str, str] | None = None,
                   skip: tuple[str, ...] = (), short: dict[str, str] | None = None,
                   required: tuple[str, ...] = ()) -> list[Flag]:
    """One flag per scalar field of ``model`` (``--field-name``, or ``-x`` for a one-letter name; ``rename``
    maps a field to another flag name, ``short`` adds a short form, ``required`` fields must be typed). A bool
    field is a switch: ``--x`` when it defaults to off, ``--no-x`` when on, both when it defaults to None.
    Nested models and non-scalar fields are left to their own sections. The flags a recipe may set (all but
    ``required``) go into ``table`` under their key (the flag's name with underscores)."""
    rename, short = rename or {}, short or {}
    made = []
    for name, f in model.model_fields.items():
        if name in skip or not _scalar(f.annotation):
            continue
        key = rename.get(name, name)
        flag = Flag(key, ("-" if len(key) == 1 else "--") + key.replace("_", "-"), section, name, adapter(f))
        names = [short[name]] if name in short else []
        common = {"dest": flag.dest, "default": argparse.SUPPRESS, "help": _help(f)}
        if name in required:
            common["required"] = True
        if _plain(f.annotation) is bool and f.default is None:
            p.add_argument(*names, flag.option, action=argparse.BooleanOptionalAction, **common)
        elif _plain(f.annotation) is bool:
            on = f.default is not True
            p.add_argument(*names, flag.option if on else f"--no-{key.replace('_', '-')}", action="store_const",
                           const=on, **common)
        else:
            plain = _plain(f.annotation)
            choices = list(typing.get_args(plain)) if typing.get_origin(plain) is Literal else None
            p.add_argument(*names, flag.option, type=_parse(flag.check), choices=choices,
                           metavar=None if choices else key.upper(), **common)
        if table is not None and name not in required:
            table[key] = flag
        made.append(flag)
    return made


def table(p: argparse.ArgumentParser) -> dict[str, Flag]:
    """The command's table of recipe keys (made on first use; ``build`` names flags from it)."""
    if p.get_default(SECTIONS) is None:
        p.set_defaults(**{SECTIONS: {}})
    return p.get_default(SECTIONS)


def given(args: argparse.Namespace, section: str) -> dict[str, Any]:
    """The fields of ``section`` typed on the command line."""
    prefix = section + "."
    return {k[len(prefix):]: v for k, v in vars(args).items() if k.startswith(prefix) and "." not in k[len(prefix):]}


def option_of(args: argparse.Namespace, section: str, fields: Any) -> str:
    """The command-line option of the first generated flag of ``section`` whose field is in ``fields`` (to name
    a flag given where it does not apply)."""
    return next(f.option for f in getattr(args, SECTIONS).values() if f.section == section and f.field in fields)
