"""`--help` a person reads: `--out PATH`, `RUN_ID`, never `<bool>`, `<list[str]>` or `{run_id}`.

Typer 0.29 prints each parameter's Python type (`--json <bool>`, `--model
<list[str]>`) and wraps required arguments in braces on the usage line. SafeVet's
commands use these classes instead (`style_app` installs them on every command of
an app), which show click's long-standing style: flags have no type, a value
option shows one word (TEXT, INTEGER, FLOAT, PATH, or its choices), an argument
shows its name in capitals, bare when required and in [brackets] when optional.
"""
from __future__ import annotations

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

_TYPE_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "path": "PATH",
               "bool": "BOOLEAN", "file": "FILE", "dir": "FOLDER", "directory": "FOLDER"}


def _type_word(shown: str) -> str:
    """`<list[str]>` -> TEXT, `<path>` -> PATH, `<a|b>` -> a|b."""
    label = shown.strip("<>")
    if label.startswith("list[") and label.endswith("]"):
        label = label[len("list["):-1]
    if "|" in label:
        return label
    return _TYPE_WORDS.get(label.lower(), label.upper())


class _PlainArgument(TyperArgument):
    """An argument shown by its metavar alone: no type column, no braces when required."""

    def display_type_rich(self, ctx):  # type: ignore[override]
        return None

    def get_usage_pieces(self, ctx) -> list[str]:  # type: ignore[override]
        name = self.metavar or (self.name or "").upper()
        name = name if self.required else f"[{name}]"
        return [name + ("..." if self.nargs != 1 else "")]


def _tidy(param, ctx) -> None:
    """Give a parameter the metavar its help should show (once; an explicit one stays)."""
    if isinstance(param, TyperArgument):
        if param.metavar is None:
            param.metavar = (param.name or "").upper()
        if not isinstance(param, _PlainArgument):
            # typer builds its own argument objects and takes no class for them
            param.__class__ = _PlainArgument
    elif isinstance(param, TyperOption) and param.metavar is None:
        is_flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
        shown = param.display_type(ctx) if hasattr(param, "display_type") else ""
        param.metavar = "" if is_flag else _type_word(str(shown or "TEXT"))


def _reflow(help_text: str | None) -> str | None:
    """Join a docstring's wrapped lines into paragraphs, as click does: typer's rich help
    keeps every source line break, so a docstring wrapped at 90 columns prints ragged.
    A paragraph starting with \\b, or with indented lines, is kept as written."""
    if not help_text:
        return help_text
    paragraphs = []
    for para in help_text.split("\n\n"):
        lines = para.split("\n")
        kept = para.startswith("\b") or any(ln.startswith(" ") for ln in lines[1:])
        paragraphs.append(para if kept else " ".join(ln.strip() for ln in lines))
    return "\n\n".join(paragraphs)


class _ClickStyle:
    """Help reflowed into paragraphs and parameters tidied: for commands and groups alike."""

    def __init__(self, *args, help: str | None = None, **kwargs) -> None:  # noqa: A002
        super().__init__(*args, help=_reflow(help), **kwargs)  # type: ignore[call-arg]

    def get_params(self, ctx):  # type: ignore[override]
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            _tidy(param, ctx)
        return params


class SafeVetCommand(_ClickStyle, TyperCommand):
    """A typer command whose parameters and help print in click's style."""


class SafeVetGroup(_ClickStyle, TyperGroup):
    """A typer group (its own options, --help included) printed in click's style."""


def style_app(app: typer.Typer) -> None:
    """Make every command and group of `app`, at any depth, use the classes above
    (where a command chose no class of its own)."""
    if not isinstance(app.info.cls, type) or app.info.cls is TyperGroup:
        app.info.cls = SafeVetGroup
    for command in app.registered_commands:
        if command.cls is None or command.cls is TyperCommand:
            command.cls = SafeVetCommand
    for group in app.registered_groups:
        if not isinstance(group.cls, type) or group.cls is TyperGroup:
            group.cls = SafeVetGroup
        if group.typer_instance is not None:
            style_app(group.typer_instance)
