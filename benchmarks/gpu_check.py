"""GPU check: SafeVet's runtime on CUDAExecutionProvider against its own CPU results.

For a machine with an NVIDIA GPU and no network (the workstation, or the H200 that
some development sessions are lent), where Python 3.12 has numpy, onnx, tokenizers
and jinja2 but neither onnxruntime-gpu nor pydantic. Everything it needs travels
from here in parts of at most PART_BYTES, because a call to that machine carries
64 MiB at most; the parts are joined and checked against SHA256SUMS there.

    # here, with the package registry (once):
    .venv/bin/python benchmarks/gpu_check.py prepare .gpu-stage
    #   -> .gpu-stage/calls/call-01 ... call-NN, each under 56 MiB
    # there, one call per folder, in order (the machine keeps /tmp while it stays warm):
    python3 benchmarks/gpu_check.py stage .gpu-stage/calls/call-01
    ...
    # there, last (at most 10 minutes):
    python3 benchmarks/gpu_check.py run

`run` joins and verifies the files, installs the wheels into a private folder, points
the loader at the CUDA/cuDNN libraries of the machine's nvidia-* pip packages, and
then, for the tiny test model and the default model (SmolLM2-135M, fp32):
- scores 20 MCQ prompts on CPU and on CUDA and compares option probabilities
  (limit 1e-3 fp32; the fp16 cast made there, 2e-2);
- prints items/s (batch 1 and 8) and generated tokens/s (batch 1 and 8), on CUDA
  with the KV cache on the device (IO binding) and, for comparison, on the host.
It exits 0 when every parity check holds, 1 when one fails, and 3 when there is
no CUDA to check (it says why), so a CPU-only machine never reports a pass.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from engine.hashing import sha256_file  # noqa: E402  (stdlib only: safe before the wheels)
PART_BYTES = 56 * 2**20          # a call carries 64 MiB, the working tree (~4 MB) included
STAGE = Path(os.environ.get("SAFEVET_GPU_STAGE", "/tmp/safevet-gpu-stage"))
WORK = Path(os.environ.get("SAFEVET_GPU_WORK", "/tmp/safevet-gpu"))
SUMS = "SHA256SUMS.json"
# The GPU machine's Python (3.12) lacks these; versions are SafeVet's pins.
WHEELS = ("onnxruntime-gpu==1.31.1", "pydantic==2.14.3", "pydantic_core==2.50.4",
          "annotated-types==0.8.0", "typing-inspection==0.4.5")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64")
FP32_LIMIT, FP16_LIMIT = 1e-3, 2e-2
NO_CUDA = 3
TINY, DEFAULT = "tiny-chatml", "smollm2-135m-fp32"


# --------------------------------------------------------------------- parts
@dataclass(frozen=True)
class PlannedFile:
    """One file of the bundle: where it goes, its hash, and the parts it travels in."""

    path: str
    sha256: str
    parts: list[str]


def split_into_calls(files: dict[str, Path], out: Path, part_bytes: int = PART_BYTES
                     ) -> list[Path]:
    """Cut `files` (bundle path -> file here) into parts and pack the parts into call
    folders of at most `part_bytes` each; SHA256SUMS.json goes with the first call."""
    out.mkdir(parents=True, exist_ok=True)
    planned: list[PlannedFile] = []
    pieces: list[tuple[str, bytes]] = []
    for rel, src in sorted(files.items()):
        data = src.read_bytes()
        names = []
        for k in range(0, max(len(data), 1), part_bytes):
            name = f"{rel.replace('/', '__')}.part{k // part_bytes:03d}"
            pieces.append((name, data[k:k + part_bytes]))
            names.append(name)
        planned.append(PlannedFile(rel, hashlib.sha256(data).hexdigest(), names))
    # First fit, largest first: the fewest calls (each start costs device time).
    calls: list[list[tuple[str, bytes]]] = []
    for name, blob in sorted(pieces, key=lambda p: -len(p[1])):
        room = [c for c in calls if sum(len(b) for _, b in c) + len(blob) <= part_bytes]
        if room:
            room[0].append((name, blob))
        else:
            calls.append([(name, blob)])
    folders = []
    for i, call in enumerate(calls, start=1):
        folder = out / f"call-{i:02d}"
        folder.mkdir(exist_ok=True)
        for name, blob in call:
            (folder / name).write_bytes(blob)
        folders.append(folder)
    (folders[0] / SUMS).write_text(json.dumps([p.__dict__ for p in planned], indent=1))
    return folders


def stage(folder: Path, stage_dir: Path = STAGE) -> int:
    """Copy one call's parts into the machine's staging folder; returns how many."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in sorted(folder.iterdir()):
        shutil.copy2(f, stage_dir / f.name)
        n += 1
    return n


def join_parts(stage_dir: Path, dest: Path) -> list[str]:
    """Rebuild every planned file under `dest` from its parts, checking its hash; returns
    the problems (missing parts, hash mismatches), empty when all is whole."""
    sums = stage_dir / SUMS
    if not sums.exists():
        return [f"{sums} missing: stage call-01 first"]
    problems = []
    for entry in json.loads(sums.read_text()):
        p = PlannedFile(**entry)
        missing = [n for n in p.parts if not (stage_dir / n).exists()]
        if missing:
            problems.append(f"{p.path}: parts not staged: {', '.join(missing)}")
            continue
        target = dest / p.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            for n in p.parts:
                out.write((stage_dir / n).read_bytes())
        if sha256_file(target) != p.sha256:
            problems.append(f"{p.path}: sha256 differs from SHA256SUMS (a part is damaged)")
    return problems


# ------------------------------------------------------------------- prepare
def prepare(out: Path) -> None:
    """Download the wheels, export the tiny model, copy the default model; cut into calls."""
    sys.path.insert(0, str(REPO))
    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    plat = [a for p in PLATFORMS for a in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation",
                    "cp", *plat, "-d", str(wheels), *WHEELS], check=True)
    files = {f"wheels/{w.name}": w for w in wheels.glob("*.whl")}
    for name, folder in _model_folders(out / "models").items():
        for f in folder.iterdir():
            files[f"models/{name}/{f.name}"] = f
    folders = split_into_calls(files, out / "calls")
    total = sum(f.stat().st_size for f in files.values())
    print(f"{len(files)} files, {total / 2**20:.0f} MiB, in {len(folders)} calls:")
    for f in folders:
        print(f"  stage {f.relative_to(REPO) if f.is_relative_to(REPO) else f}")
    print("then: python3 benchmarks/gpu_check.py run")


def _model_folders(models: Path) -> dict[str, Path]:
    """The tiny ChatML test model (exported here: export needs torch) and the default model."""
    from engine.models.default import install_default
    from engine.models.importer import import_model
    from engine.models.registry import model_dir
    from engine.workspace import Workspace
    from tests.fixtures.models import build_tiny_hf_folder

    ws = Workspace.open(models.parent / "ws")
    if not (ws.models_dir / TINY).exists():
        import_model(ws, build_tiny_hf_folder(models.parent / "hf-tiny", "chatml"), TINY, "fp32")
    install_default(ws)
    return {TINY: model_dir(ws, TINY), DEFAULT: model_dir(ws, DEFAULT)}


# ----------------------------------------------------------------------- run
def nvidia_library_folders() -> list[str]:
    """The lib folders of the machine's nvidia-* pip packages (CUDA, cuBLAS, cuDNN)."""
    out = []
    for base in sys.path:
        root = Path(base) / "nvidia"
        if root.is_dir():
            out += sorted(str(p) for p in root.glob("*/lib") if p.is_dir())
    return out


def run(limit_s: float) -> int:
    problems = join_parts(STAGE, WORK / "files")
    if problems:
        print("bundle incomplete:\n  " + "\n  ".join(problems))
        return 1
    site = WORK / "site"
    wheels = sorted(str(w) for w in (WORK / "files" / "wheels").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    "--no-compile", "--no-cache-dir", "--upgrade", "--target", str(site),
                    *wheels], check=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(nvidia_library_folders()
                                             + [env.get("LD_LIBRARY_PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    # A new process: the loader reads LD_LIBRARY_PATH only at start.
    return subprocess.run([sys.executable, __file__, "check", "--models",
                           str(WORK / "files" / "models"), "--limit-s", str(limit_s)],
                          env=env).returncode


@dataclass
class Row:
    model: str
    what: str
    value: str


def check(models: Path, limit_s: float, rehearse: bool = False) -> int:
    """The checks themselves, in a process whose onnxruntime is the GPU build.

    `rehearse` runs every step with CPU standing in for CUDA, so the script itself is
    tested on machines without a GPU; its rows say so and prove nothing about a GPU."""
    import onnxruntime as ort
    sys.path.insert(0, str(REPO))
    from engine.models.providers import CUDA, choose_for_this_machine

    print(f"onnxruntime {ort.__version__} from {Path(ort.__file__).parent}; providers "
          f"{ort.get_available_providers()}")
    choice = choose_for_this_machine("cuda")
    if choice.name != CUDA and not rehearse:
        print(f"NO CUDA CHECK: {choice.notice}")
        return NO_CUDA
    if rehearse:
        print("REHEARSAL: CPU stands in for CUDA; these figures are not GPU figures")
    t_end = time.monotonic() + limit_s
    rows: list[Row] = []
    failed = False
    for name in (TINY, DEFAULT):
        folder = models / name
        if not folder.exists():
            print(f"{name}: not in the bundle, skipped")
            continue
        failed |= _check_model(name, folder, rows, t_end, "cpu" if rehearse else "cuda")
    width = max(len(r.what) for r in rows) if rows else 10
    print("\nmodel".ljust(22) + "check".ljust(width + 2) + "value")
    for r in rows:
        print(r.model.ljust(21) + r.what.ljust(width + 2) + r.value)
    out = os.environ.get("OUT")
    if out:
        Path(out, "gpu_check.json").write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    return 1 if failed else 0


def _check_model(name: str, folder: Path, rows: list[Row], t_end: float,
                 device: str) -> bool:
    from engine.models.generation import GenerationSettings
    from engine.models.importer import derive_quantized
    from benchmarks.model_throughput import SYSTEM, questions
    from engine.models.registry import load_model
    from engine.workspace import Workspace

    ws = Workspace.open(WORK / "ws")
    if not (ws.models_dir / name).exists():
        shutil.copytree(folder, ws.models_dir / name)
    cpu = load_model(ws, name, provider="cpu")
    gpu = load_model(ws, name, provider=device, batch_size=8)
    if device == "cpu":   # a rehearsal: the "GPU" side keeps its cache on the device path too
        gpu = _with_kv(ws, name, "cpu", "device")
    rows.append(Row(name, "execution provider", f"{gpu.execution_provider}; "
                    f"{gpu.session_info.get('device', '?')}; kv cache "
                    f"{gpu.session_info.get('kv_cache')}"))
    qs = questions(20)
    prompts = [cpu.render_chat([{"role": "system", "content": SYSTEM},
                                {"role": "user", "content": q}]) + "Answer:" for q, _ in qs]
    letters = [ls for _, ls in qs]
    ref = cpu.score_options(prompts, letters)
    failed = False

    def parity(model, label: str, limit: float) -> None:
        nonlocal failed
        got = model.score_options(prompts, letters)
        worst = max(abs(a.probs[k] - b.probs[k]) for a, b in zip(ref, got) for k in a.probs)
        ok = worst <= limit
        failed |= not ok
        rows.append(Row(name, f"{label} vs CPU fp32 max |dp|", f"{worst:.2e} "
                        f"({'ok' if ok else 'FAIL'}, limit {limit:g})"))

    parity(gpu, "CUDA fp32", FP32_LIMIT)
    for b in (1, 8):
        gpu.batch_size = b
        t = time.perf_counter()
        gpu.score_options(prompts, letters)
        rows.append(Row(name, f"CUDA fp32 scoring, batch {b}",
                        f"{len(prompts) / (time.perf_counter() - t):.1f} items/s"))
    chats = [cpu.render_chat([{"role": "user", "content": q}]) for q, _ in qs[:16]]
    settings = GenerationSettings(max_new_tokens=40)
    host_kv = _with_kv(ws, name, device, "host")
    for model, where in ((gpu, "device"), (host_kv, "host")):
        for b in (1, 8):
            model.generation_batch_size = b
            t = time.perf_counter()
            gens = model.generate_batch(chats, [settings] * len(chats))
            tok = sum(g.completion_tokens for g in gens)
            rows.append(Row(name, f"CUDA generation, batch {b}, KV on {where}",
                            f"{tok / (time.perf_counter() - t):.1f} tok/s"))
    same = [g.text for g in gpu.generate_batch(chats[:4], [settings] * 4)] == \
        [g.text for g in cpu.generate_batch(chats[:4], [settings] * 4)]
    rows.append(Row(name, "greedy text CUDA = CPU (4 prompts)", "yes" if same else "no"))
    if time.monotonic() < t_end:
        half = f"{name}-fp16"
        if not (ws.models_dir / half).exists():
            derive_quantized(ws, name, half, "fp16")
        if device == "cuda":
            parity(load_model(ws, half, provider="cuda"), "CUDA fp16", FP16_LIMIT)
        else:
            rows.append(Row(name, "CUDA fp16", "derived; not loaded (fp16 runs on CUDA only)"))
    return failed


def _with_kv(ws, name: str, provider: str, kv_cache: str):
    """The model loaded with its KV cache kept on `kv_cache` ("device" or "host"), set the
    way an operator would: through $SAFEVET_KV_CACHE, read at load."""
    from engine.models.registry import load_model
    from engine.models.runtime_options import KV_CACHE_VARIABLE
    before = os.environ.get(KV_CACHE_VARIABLE)
    os.environ[KV_CACHE_VARIABLE] = kv_cache
    try:
        return load_model(ws, name, provider=provider, batch_size=8)
    finally:
        if before is None:
            os.environ.pop(KV_CACHE_VARIABLE)
        else:
            os.environ[KV_CACHE_VARIABLE] = before


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("prepare", help="here: wheels and models cut into call folders")
    p.add_argument("out", type=Path)
    s = sub.add_parser("stage", help="there: keep one call's parts in the staging folder")
    s.add_argument("folder", type=Path)
    r = sub.add_parser("run", help="there: join, install, check")
    r.add_argument("--limit-s", type=float, default=480.0)
    c = sub.add_parser("check", help=argparse.SUPPRESS)
    c.add_argument("--models", type=Path, required=True)
    c.add_argument("--limit-s", type=float, default=480.0)
    c.add_argument("--rehearse", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.verb == "prepare":
        prepare(a.out)
        return 0
    if a.verb == "stage":
        print(f"staged {stage(a.folder)} parts in {STAGE}")
        return 0
    if a.verb == "run":
        return run(a.limit_s)
    return check(a.models, a.limit_s, a.rehearse)


if __name__ == "__main__":
    sys.exit(main())
