"""onnxruntime 1.31.1 (PyPI, Linux) has Microsoft 1DS telemetry built in: running the
real default model resolves mobile.events.data.microsoft.com (found with strace inside
`unshare -n`, the name read by a loopback DNS listener in a private namespace).
ORT_DISABLE_TELEMETRY=1 stops it, but only when set before onnxruntime is imported.

These tests run the engine's own model path in a subprocess inside `unshare -n`,
traced with `strace -f -e trace=connect`, on the real SmolLM2 model (the tiny test
model does not trigger the telemetry). They need the default model already in
.cache/default-workspace (the `slow` tests put it there) and skip otherwise.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.offline import OFFLINE_FLAGS

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WS = REPO / ".cache" / "default-workspace"
MODEL = "smollm2-135m-int8"
INET_CONNECT = re.compile(r"connect\(\d+, \{sa_family=AF_INET6?\b")
SCRIPT = (
    "import sys\n"
    "import engine\n"  # the engine sets its offline flags on import, before onnxruntime
    "from engine.workspace import Workspace\n"
    "from engine.models.registry import load_model\n"
    "m = load_model(Workspace.open(sys.argv[1]), sys.argv[2])\n"
    "p = m.render_chat([{'role': 'user', 'content': 'Which is a sign of pneumothorax? "
    "A) absent lung markings B) cardiomegaly. Answer with the letter.'}])\n"
    "print(m.score_options([p], [['A', 'B']]))\n"
)


def _inet_connects(tmp_path: Path, extra_env: dict[str, str]) -> list[str]:
    if shutil.which("unshare") is None or shutil.which("strace") is None:
        pytest.skip("needs unshare and strace (apt-get install strace)")
    probe = subprocess.run(["unshare", "-n", "strace", "-o", "/dev/null", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"`unshare -n strace true` not permitted here: {probe.stderr.strip()[:200]}")
    if not (DEFAULT_WS / "models" / MODEL / "manifest.json").is_file():
        pytest.skip(f"default model not in {DEFAULT_WS} (run the slow tests once to install it)")
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(extra_env)
    trace = tmp_path / "connect.strace"
    proc = subprocess.run(["unshare", "-n", "strace", "-f", "-qq", "-e", "trace=connect", "-o",
                           str(trace), sys.executable, "-c", SCRIPT, str(DEFAULT_WS), MODEL],
                          capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [line for line in trace.read_text().splitlines() if INET_CONNECT.search(line)]


@pytest.mark.slow
@pytest.mark.xfail("ORT_DISABLE_TELEMETRY" not in OFFLINE_FLAGS, strict=True,  # guard against regressions
                   reason="engine/offline.py OFFLINE_FLAGS lacks ORT_DISABLE_TELEMETRY=1, so "
                          "onnxruntime's telemetry tries to resolve a Microsoft host")
def test_engine_model_run_attempts_no_connection(tmp_path):
    assert _inet_connects(tmp_path, {}) == []


@pytest.mark.slow
def test_ort_disable_telemetry_stops_the_attempts(tmp_path):
    assert _inet_connects(tmp_path, {"ORT_DISABLE_TELEMETRY": "1"}) == []
