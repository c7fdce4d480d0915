"""The workspace: one folder holding everything SafeVet stores on this machine.

Default `~/.local/share/safevet`; `SAFEVET_HOME` or `--home` override it, so
tests and a second operator can keep separate stores.
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
# A corpus folder is finished when this manifest is in it (engine.retrieval.corpus writes it).
CORPUS_MANIFEST = "corpus.json"
DB_NAME = "results.sqlite"
# The folders every workspace has (Workspace.open makes them).
LAYOUT_DIRS = ("models", "suites", "corpora", "reports", "keys", "cache")
# What marks a folder as a workspace: the results store, or both of these folders. One
# folder alone is not enough: a project folder may well hold a `models/` of its own.
MARKER_DIRS = ("models", "suites")
# What a folder may hold and still count as empty: the error log SafeVet writes there
# when a command fails before the workspace was made.
IGNORED_WHEN_EMPTY = ("logs",)


class HomeState(enum.Enum):
    """What a folder chosen as the workspace is, before anything is written to it."""

    WORKSPACE = "a SafeVet workspace"
    EMPTY = "an empty folder"
    MISSING = "missing"
    FILE = "a file"
    OTHER = "a folder that is not a SafeVet workspace"


def home_state(home: str | Path) -> HomeState:
    """Whether `home` is a workspace, could become one, or is something else.

    Front ends use this to refuse a mistyped or wrong --home before creating a
    workspace there; Workspace.open itself never asks."""
    path = Path(home).expanduser()
    if not path.exists():
        return HomeState.MISSING
    if not path.is_dir():
        return HomeState.FILE
    if (path / DB_NAME).is_file() or all((path / d).is_dir() for d in MARKER_DIRS):
        return HomeState.WORKSPACE
    if all(entry.name in IGNORED_WHEN_EMPTY for entry in path.iterdir()):
        return HomeState.EMPTY
    return HomeState.OTHER


def default_home() -> Path:
    env = os.environ.get("SAFEVET_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "safevet"


@dataclass(frozen=True)
class Workspace:
    home: Path

    @classmethod
    def open(cls, home: str | Path | None = None) -> "Workspace":
        """The workspace at `home` (default: default_home()), its folders made if missing."""
        ws = cls(Path(home).expanduser().resolve() if home else default_home().resolve())
        for sub in LAYOUT_DIRS:
            (ws.home / sub).mkdir(parents=True, exist_ok=True)
        return ws

    @property
    def db_path(self) -> Path:
        return self.home / DB_NAME

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def suites_dir(self) -> Path:
        return self.home / "suites"

    @property
    def corpora_dir(self) -> Path:
        return self.home / "corpora"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"
