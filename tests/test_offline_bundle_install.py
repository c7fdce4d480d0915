"""Proof on a built bundle: install from it and run the demo with no network.

Building a bundle downloads ~650 MB and installing it takes minutes, so this does
not run in `make test` by default. To run it:

    packaging/build-offline-bundle --out /tmp/bundles            # on a connected machine
    SAFEVET_OFFLINE_BUNDLE=/tmp/bundles/safevet-offline-0.1.0-cpu.tar \\
        .venv/bin/python -m pytest tests/test_offline_bundle_install.py

It drives packaging/prove_offline.py: unshare -n + strace -e trace=connect around
the installer, then a small demo (the demo's steps with the smoke profile: corpus,
both default candidates x both demo suites x six conditions, one signed report per
candidate) and `safevet verify` of every PDF. SAFEVET_OFFLINE_PROOF_DEMO=full runs
the whole `safevet demo` instead (an hour on 2 busy cores); =skip stops after the install.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGING = Path(__file__).resolve().parent.parent / "packaging"
BUNDLE = os.environ.get("SAFEVET_OFFLINE_BUNDLE")


def _prover():
    spec = importlib.util.spec_from_file_location("_safevet_prove_offline",
                                                  PACKAGING / "prove_offline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(3600)
def test_bundle_installs_and_runs_demo_without_network(tmp_path):
    if not BUNDLE:
        pytest.skip("no bundle: set SAFEVET_OFFLINE_BUNDLE=/path/to/safevet-offline-*.tar "
                    "(build one with packaging/build-offline-bundle)")
    if not Path(BUNDLE).exists():
        pytest.skip(f"SAFEVET_OFFLINE_BUNDLE={BUNDLE} does not exist")
    prove = _prover()
    problem = prove.unshare_problem()
    if problem:
        pytest.skip(problem)
    if shutil.which("strace") is None:
        pytest.skip("strace not installed (apt-get install strace)")
    demo = os.environ.get("SAFEVET_OFFLINE_PROOF_DEMO", "smoke")
    code = prove.main([BUNDLE, "--workdir", str(tmp_path / "proof"), "--demo", demo])
    summary = __import__("json").loads((tmp_path / "proof" / "proof.json").read_text())
    assert code == 0, summary.get("error")
    assert summary["result"] == "passed"
    assert summary["connections"]["inet_connect_calls"] == 0
    assert summary["steps"]["install"]["exit"] == 0
    if demo != "skip":
        assert len(summary["pdfs_verified"]) == 2, "one verified PDF per default candidate"


def test_prover_refuses_a_tampered_bundle_inside_unshare(tmp_path):
    """The prover's failure path is real: a changed byte fails the install step."""
    prove = _prover()
    problem = prove.unshare_problem()
    if problem:
        pytest.skip(problem)
    bm_spec = importlib.util.spec_from_file_location("_safevet_bm", PACKAGING / "bundle_manifest.py")
    bm = importlib.util.module_from_spec(bm_spec)
    bm_spec.loader.exec_module(bm)
    bundle = tmp_path / "safevet-offline-test"
    (bundle / "wheels").mkdir(parents=True)
    for name in ("install.sh", "install.py", "bundle_manifest.py"):
        shutil.copy2(PACKAGING / name, bundle / name)
    (bundle / "wheels" / "x-1.0-py3-none-any.whl").write_bytes(b"not really a wheel")
    (bundle / "bundle.json").write_text('{"variant": "test", "gpu": false}\n')
    bm.write_manifest(bundle)
    (bundle / "wheels" / "x-1.0-py3-none-any.whl").write_bytes(b"tampered")
    if subprocess.run(["bash", "-c", "command -v python3.11"], capture_output=True,
                      env={"PATH": "/usr/local/bin:/usr/bin:/bin"}).returncode != 0:
        pytest.skip("no python3.11 on the clean PATH /usr/local/bin:/usr/bin:/bin")
    code = prove.main([str(bundle), "--workdir", str(tmp_path / "proof"), "--no-strace",
                       "--demo", "skip"])
    assert code == 1
    log = (tmp_path / "proof" / "install.log").read_text()
    assert "REFUSED" in log and "checksum mismatch: wheels/x-1.0-py3-none-any.whl" in log
