"""The workspace: one folder holding everything SafeVet stores on this machine.

Default `~/.local/share/safevet`; `SAFEVET_HOME` or `--home` override it, so
tests and a second operator can keep separate stores.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


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
        ws = cls(Path(home).expanduser().resolve() if home else default_home().resolve())
        for sub in (ws.models_dir, ws.suites_dir, ws.corpora_dir, ws.reports_dir, ws.keys_dir,
                    ws.cache_dir):
            sub.mkdir(parents=True, exist_ok=True)
        return ws

    @property
    def db_path(self) -> Path:
        return self.home / "results.sqlite"

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
