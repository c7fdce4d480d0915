"""Errors a user sees: each carries a message that names what to fix.

Front ends print `str(error)` and exit non-zero (CLI) or show a dialog (GUI);
a traceback is never the user's problem to read.
"""
from __future__ import annotations

from pathlib import Path


class SafeVetError(Exception):
    """Base for every error that is the user's input or environment, not a bug.

    `exit_code` is what the CLI exits with: 2 for input the user can fix (the
    default), 1 for the machine's environment (disk full, a store in use).
    """

    exit_code = 2


class InputError(SafeVetError):
    """Bad input: names the file, the line and the field, and what was expected."""

    def __init__(self, file: str | Path, message: str, line: int | None = None,
                 field: str | None = None) -> None:
        self.file = str(file)
        self.line = line
        self.field = field
        self.detail = message
        where = self.file
        if line is not None:
            where += f", line {line}"
        if field:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class InputErrors(SafeVetError):
    """Several input errors found in one pass, reported together."""

    def __init__(self, errors: list[InputError], limit: int = 20) -> None:
        self.errors = errors
        shown = "\n".join(f"  - {e}" for e in errors[:limit])
        more = f"\n  ... and {len(errors) - limit} more" if len(errors) > limit else ""
        noun = "problem" if len(errors) == 1 else "problems"
        super().__init__(f"{len(errors)} {noun} found:\n{shown}{more}")


class IntegrityError(SafeVetError):
    """A file's hash does not match its manifest: changed, truncated or swapped."""


class NotFoundError(SafeVetError):
    """A named model, suite, corpus or run is not in the workspace."""


class EnvironmentFailure(SafeVetError):
    """The machine, not the input: disk full, a file system error, a store in use."""

    exit_code = 1


class CheckFailed(SafeVetError):
    """A check the user asked for did not hold: a report that does not verify, a model
    file that changed, an audit log that does not chain. Exit 1, so a script can tell
    "checked, and it failed" (1) from "could not check what you gave" (2)."""

    exit_code = 1


class DiskFullError(EnvironmentFailure):
    """No space left where SafeVet writes (results store, model or corpus folder)."""
