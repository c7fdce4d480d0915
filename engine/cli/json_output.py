"""`--json` output: one envelope for every command, so a script reads them all alike.

Every `--json` prints one object:

    {"format_version": 1, "kind": "<what>", "<what>": <record or list of records>, ...}

The payload sits under the key the `kind` names (`models list --json` ->
`{"kind": "models", "models": [...]}`), and any context a script needs to read it
(the suite a queue belongs to, the query of a search) sits beside it. Records are
the engine's own pydantic models and dataclasses, dumped as they are, so the JSON
has the same field names as the Python API. `safevet results --json` keeps its own
layout and version (engine.runs.results.RESULTS_FORMAT_VERSION), with the same
`format_version` key.
"""
from __future__ import annotations

import typer

# Bump when a field is renamed or removed, or a kind's shape changes; adding fields
# keeps the version (a script must ignore fields it does not know).
JSON_FORMAT_VERSION = 1

JSON_HELP = "Print one JSON object for scripts (format_version 1; see safevet --help)"
# Shared so every command's --json reads the same in --help.
JSON_OPTION = typer.Option(False, "--json", help=JSON_HELP)


def emit_json(kind: str, payload: object, **context: object) -> None:
    """Print the envelope on stdout. NaN and infinity become null: JSON has neither,
    and a metric with no data is what null means to a reader."""
    from pydantic_core import to_json

    document = {"format_version": JSON_FORMAT_VERSION, "kind": kind, kind: payload, **context}
    typer.echo(to_json(document, indent=2, inf_nan_mode="null").decode("utf-8"))
