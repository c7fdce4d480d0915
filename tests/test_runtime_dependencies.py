"""Running a model needs only SafeVet's runtime dependencies, never the export add-on.

A runtime-only install (packaging/build-offline-bundle --runtime-only) gets exactly
the `dependencies` of pyproject.toml and what they require. The offline proof found
that scoring imported `onnx` (the in-memory scoring graph) while only the export
add-on brought it in; this test catches any such import: it loads and runs the tiny
model in a fresh process and checks every third-party distribution imported.
"""
from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]

RUN_A_MODEL = """
import json, sys
from engine.models.registry import load_model
from engine.workspace import Workspace
from engine.models.generation import GenerationSettings
model = load_model(Workspace.open(), sys.argv[1])
prompt = model.render_chat([{"role": "user", "content": "which scan? A. ct B. mri"}]) + "Answer:"
model.score_options([prompt, prompt + " "], [["A", "B"], ["A", "B"]])
model.generate(prompt, GenerationSettings(max_new_tokens=4))
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def runtime_closure() -> set[str]:
    """pyproject's runtime dependencies and, recursively, what they require (no extras)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = {**default_environment(), "extra": ""}
    todo = [Requirement(r) for r in project["dependencies"]]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate(env)):
            continue
        seen.add(name)
        try:
            todo += [Requirement(r) for r in (md.requires(name) or [])]
        except md.PackageNotFoundError:
            continue
    return seen


def test_running_a_model_imports_only_runtime_dependencies(tiny_model_ws):
    ws, name = tiny_model_ws
    proc = subprocess.run([sys.executable, "-c", RUN_A_MODEL, name], capture_output=True,
                          text=True, cwd=REPO, timeout=600,
                          env={**__import__("os").environ, "SAFEVET_HOME": str(ws.home)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    owners = md.packages_distributions()
    imported = {canonicalize_name(d) for m in modules if m not in sys.stdlib_module_names
                for d in owners.get(m, [])}
    # setuptools: every SafeVet venv has it (editable install); its distutils-precedence.pth
    # imports _distutils_hack when Python starts, before any SafeVet code.
    allowed = runtime_closure() | {"safevet", "setuptools"}
    assert "onnx" in imported            # the scoring graph is derived with onnx
    outside = sorted(imported - allowed)
    assert not outside, (f"running a model imported {outside}, which a runtime-only install "
                         f"does not have: add them to pyproject's dependencies")
    assert not {"torch", "transformers", "optimum"} & imported
