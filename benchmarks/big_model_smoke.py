"""Issue 17's "done when" smoke: a ~500M random Llama imported and run as a user would.

In a temporary workspace ($SAFEVET_HOME): the embedder copied from the default
workspace, the demo corpus ingested, a ~504M-parameter random Llama written
(benchmarks/random_llama.py: hidden 1536, 17 layers, 24/8 heads, bf16), then through the
CLI `safevet models import` (no --exporter: "auto" must pick the direct exporter at this
size) and `safevet run --profile smoke` over both demo suites. Each command's wall time
and peak RSS come from /usr/bin/time. Last, one byte of model.onnx_data is flipped and
the run is started again: it must fail in one line naming the file, with no traceback.

    .venv/bin/python benchmarks/big_model_smoke.py [--work /tmp/bigmodel-smoke] [--keep]

About 10-20 min on 2 cores; ~1 GB source + ~2.3 GB fp32 export on disk, removed at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
DEFAULT_WS = REPO / ".cache" / "default-workspace"
SIZE = ["--hidden", "1536", "--layers", "17", "--heads", "24", "--kv-heads", "8",
        "--intermediate", "4096"]
NAME = "rand-500m"


def step(label: str, cmd: list[str], env: dict, ok: bool = True) -> subprocess.CompletedProcess:
    """Run `cmd` under /usr/bin/time; print its wall time and peak RSS."""
    timed = ["/usr/bin/time", "-f", "TIME %e %M", *cmd]
    proc = subprocess.run(timed, env=env, capture_output=True, text=True, cwd="/")
    line = next(ln for ln in reversed(proc.stderr.splitlines()) if ln.startswith("TIME "))
    wall, kib = line.split()[1:]
    print(f"{label:<22} {float(wall):8.1f} s   peak RSS {int(kib) / 1024:7.0f} MiB   "
          f"exit {proc.returncode}   load {os.getloadavg()[0]:.2f}", flush=True)
    if ok and proc.returncode != 0:
        sys.exit(f"{label} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bigmodel-smoke"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work, home = args.work, args.work / "home"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    sys.path.insert(0, str(REPO))
    from engine.workspace import Workspace
    ws = Workspace.open(home)
    env = {**os.environ, "SAFEVET_HOME": str(home)}
    try:
        shutil.copytree(DEFAULT_WS / "models" / "embedders", ws.models_dir / "embedders")
        step("make random model", [str(BIN / "python"), str(REPO / "benchmarks" /
                                   "random_llama.py"), str(work / "hf"), *SIZE], env)
        step("corpus ingest", [str(BIN / "safevet"), "corpus", "ingest",
                               str(REPO / "assets" / "corpus" / "demo-radiology"), "--name",
                               "demo-radiology", "-q"], env)
        step("models import (auto)", [str(BIN / "safevet"), "models", "import",
                                      str(work / "hf"), "--name", NAME], env)
        manifest = json.loads((home / "models" / NAME / "manifest.json").read_text())
        print(f"  {manifest['parameter_count']:,} parameters; exported by "
              f"{', '.join(sorted(manifest['export_tool_versions']))}; files "
              f"{', '.join(sorted(manifest['files']))}")
        run = [str(BIN / "safevet"), "run", "--models", NAME, "--suites",
               "demo-radiology-mcq,demo-open-safety", "--profile", "smoke", "--corpus",
               "demo-radiology", "--operator", "smoke"]
        proc = step("run --profile smoke", run, env)
        print("  " + "\n  ".join(ln for ln in proc.stdout.splitlines()
                                 if "calls stored" in ln or "run id" in ln))
        data = home / "models" / NAME / "model.onnx_data"
        with open(data, "r+b") as fh:
            fh.seek(data.stat().st_size // 2)
            byte = fh.read(1)
            fh.seek(-1, 1)
            fh.write(bytes([byte[0] ^ 0xFF]))
        proc = step("run, data tampered", run, env, ok=False)
        said = " ".join(proc.stdout.split() + proc.stderr.split()[:-3])
        traceback = "Traceback" in proc.stdout + proc.stderr
        print(f"  exit {proc.returncode}; traceback: {'YES' if traceback else 'no'}; "
              f"said: {said[-300:]}")
        if proc.returncode == 0 or traceback:
            sys.exit("a tampered model must be refused in one line")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
