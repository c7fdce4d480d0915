"""benchmarks/gpu_check.py, the script run on a GPU machine, tested where there is none:
its bundle travels in parts that must come back whole, it refuses to report a pass
without CUDA, and a rehearsal with CPU standing in for CUDA runs every step of it on
the real tiny model (so the script is known to work before device time is spent)."""
from __future__ import annotations

import json

import pytest

from benchmarks import gpu_check
from tests.fixtures.models import copy_models


def test_bundle_is_cut_into_calls_and_joined_back_whole(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    big, small = src / "big.whl", src / "small.json"
    big.write_bytes(bytes(range(256)) * 40)        # 10240 bytes -> 3 parts of 4000
    small.write_text("{}")
    calls = gpu_check.split_into_calls({"wheels/big.whl": big, "models/m/small.json": small},
                                       tmp_path / "calls", part_bytes=4000)
    assert len(calls) >= 3
    for c in calls:
        assert sum(f.stat().st_size for f in c.iterdir() if f.name != gpu_check.SUMS) <= 4000
    stage = tmp_path / "stage"
    assert gpu_check.join_parts(stage, tmp_path / "out") == [
        f"{stage / gpu_check.SUMS} missing: stage call-01 first"]
    for c in calls[:-1]:
        gpu_check.stage(c, stage)
    problems = gpu_check.join_parts(stage, tmp_path / "out")
    assert problems and "parts not staged" in problems[0]
    gpu_check.stage(calls[-1], stage)
    assert gpu_check.join_parts(stage, tmp_path / "out") == []
    assert (tmp_path / "out/wheels/big.whl").read_bytes() == big.read_bytes()
    assert (tmp_path / "out/models/m/small.json").read_text() == "{}"
    damaged = sorted(stage.glob("wheels__big.whl.part*"))[1]
    damaged.write_bytes(b"x" + damaged.read_bytes()[1:])
    assert gpu_check.join_parts(stage, tmp_path / "out2") == [
        "wheels/big.whl: sha256 differs from SHA256SUMS (a part is damaged)"]


def test_without_cuda_it_says_why_and_never_passes(tmp_path, capsys):
    code = gpu_check.main(["check", "--models", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == gpu_check.NO_CUDA
    assert "NO CUDA CHECK: CUDA was requested but onnxruntime-gpu is not installed" in out


def test_rehearsal_runs_every_step_on_the_tiny_model(tiny_model_store, workspace, tmp_path,
                                                     monkeypatch, capsys):
    copy_models(tiny_model_store, workspace, "chatml")
    monkeypatch.setattr(gpu_check, "WORK", tmp_path / "work")
    monkeypatch.setenv("OUT", str(tmp_path))
    code = gpu_check.main(["check", "--models", str(workspace.models_dir), "--rehearse"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "REHEARSAL: CPU stands in for CUDA" in out
    rows = json.loads((tmp_path / "gpu_check.json").read_text())
    checks = {r["what"]: r["value"] for r in rows if r["model"] == gpu_check.TINY}
    assert checks["CUDA fp32 vs CPU fp32 max |dp|"].endswith("(ok, limit 0.001)")
    assert "device (cpu, IO binding)" in checks["execution provider"]
    for b in (1, 8):
        assert checks[f"CUDA fp32 scoring, batch {b}"].endswith("items/s")
        for where in ("device", "host"):
            assert checks[f"CUDA generation, batch {b}, KV on {where}"].endswith("tok/s")
    assert checks["greedy text CUDA = CPU (4 prompts)"] == "yes"
    assert checks["CUDA fp16"].startswith("derived")


@pytest.mark.parametrize("verb", ["prepare", "stage", "run"])
def test_every_verb_documents_itself(verb, capsys):
    with pytest.raises(SystemExit) as done:
        gpu_check.main([verb, "--help"])
    assert done.value.code == 0 and verb in capsys.readouterr().out
