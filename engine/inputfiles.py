"""Reading untrusted text files: bounded, decoded strictly, parsed with limits.

Every JSON, JSONL and TOML file SafeVet reads from input goes through here, so
each way a hostile or damaged file can break a parser (invalid UTF-8, a folder
where a file belongs, nesting deep enough to exhaust the stack, a number with
thousands of digits, NUL bytes, a file of gigabytes) becomes one InputError
naming the file, the line where known, and the byte offset.
"""
from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from engine.errors import InputError
from engine.safepath import regular_file

MAX_JSON_DEPTH = 64
MAX_NUMBER_CHARS = 40          # far beyond any count, hash length or probability
DEFAULT_MAX_BYTES = 256 * 2**20
# C0 controls other than tab, newline and carriage return, DEL and the C1 controls: never
# meaningful in a suite, a manifest or a clinical document, and ESC (or the 8-bit CSI,
# U+009B) starts sequences that can rewrite a terminal.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")
_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def read_text(path: str | Path, *, what: str = "file",
              max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The file's text as strict UTF-8; a folder, link, oversize file or bad byte is an
    InputError that says which byte (and line) to look at."""
    path = regular_file(Path(path), what=what)
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(path, f"{what} is {size / 2**20:.1f} MiB, over the limit of "
                               f"{max_bytes / 2**20:.1f} MiB")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"{what} cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                         line=line) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def json_depth_error(text: str) -> str | None:
    """Why `text` nests too deep for a safe parse, or None; strings are skipped over."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return None
    depth = 0
    for m in _BRACKET.finditer(_JSON_STRING.sub('""', text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return f"nested more than {MAX_JSON_DEPTH} levels deep"
    return None


def _number(kind: type):
    def parse(token: str):
        if len(token) > MAX_NUMBER_CHARS:
            raise ValueError(f"number with {len(token)} characters (limit {MAX_NUMBER_CHARS})")
        value = kind(token)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"number {token[:20]} is out of range")
        return value
    return parse


def _no_constant(token: str):
    raise ValueError(f"{token} is not valid JSON")


def parse_json(text: str, *, file: str | Path, line: int | None = None) -> Any:
    """json.loads with bounded nesting and numbers, NaN refused; errors name file and line."""
    problem = json_depth_error(text)
    if problem:
        raise InputError(file, f"invalid JSON ({problem})", line=line)
    try:
        return json.loads(text, parse_int=_number(int), parse_float=_number(float),
                          parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(file, f"invalid JSON ({exc.msg} at column {exc.colno})",
                         line=line if line is not None else exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(file, f"invalid JSON ({exc})", line=line) from None


def read_json(path: str | Path, *, what: str = "file",
              max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    return parse_json(read_text(path, what=what, max_bytes=max_bytes), file=path)


def parse_toml(text: str, *, file: str | Path) -> dict[str, Any]:
    """tomllib with its errors as InputErrors. tomllib is pure Python, so nesting deep
    enough to matter stops at the interpreter's recursion limit, reported as such."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        raise InputError(file, f"invalid TOML: {str(exc).split(' (at line')[0]}",
                         line=int(m.group(1)) if m else None) from None
    except RecursionError:
        raise InputError(file, "invalid TOML (nested too deep)") from None
    except ValueError as exc:
        raise InputError(file, f"invalid TOML ({exc})") from None


def control_char_field(value: Any, path: str = "") -> tuple[str, str] | None:
    """(field, character) of the first string anywhere in a parsed value that holds a
    control character; None if all are clean."""
    if isinstance(value, str):
        m = CONTROL_CHARS.search(value)
        return (path or "(value)", f"U+{ord(m.group()):04X}") if m else None
    if isinstance(value, dict):
        for k, v in value.items():
            key_path = f"{path}.{k}" if path else str(k)
            found = control_char_field(k, key_path) or control_char_field(v, key_path)
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = control_char_field(v, f"{path}[{i}]")
            if found:
                return found
    return None


def strip_control(text: str) -> tuple[str, int]:
    """Text without terminal escape sequences and control characters, and how many
    characters were removed (so the caller can say so)."""
    cleaned = _ANSI_ESCAPE.sub("", text)
    cleaned = CONTROL_CHARS.sub("", cleaned)
    return cleaned, len(text) - len(cleaned)
