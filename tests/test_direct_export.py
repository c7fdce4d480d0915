"""The direct exporter (issue 17): graph from config.json, weights streamed to model.onnx_data.

Each family the exporter covers is built as a tiny random model (tests/fixtures/models.py
FAMILIES, the family tests' shapes), imported with `exporter="direct"` as `safevet models
import --exporter direct` does, and checked against transformers (eager attention) through
the real runtime: last-position logits of a left-padded batch, greedy text, and the graph
edits (last-position head, fused attention) applying and changing no logit. Then what a
big model relies on: the weights live in a listed, hashed data file (a flipped byte is
refused), int4 is quantised one MatMul at a time with the same bytes as the in-memory
quantiser, export and quantisation each peak at a fraction of the weights (not all of
them), bf16 checkpoints are read exactly, and families it does not build are refused in
one line that names the way out.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.models.generation import GenerationSettings
from tests.fixtures.models import build_family_hf_folder
from tests.test_model_families import (LOGIT_TOLERANCE, NEW_TOKENS, FamilyStore, model_name,
                                       open_family, prompts, torch_greedy, torch_last_logits)

DIRECT_FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "phi3")
DATA = "model.onnx_data"


class DirectStore(FamilyStore):
    """The family models, imported through the direct exporter."""

    def _import(self, family: str) -> Path:
        from engine.models.importer import import_model
        folder = build_family_hf_folder(self.root / f"hf-{family}", family)
        import_model(self.ws, folder, model_name(family), "fp32", exporter="direct")
        return folder


@pytest.fixture(scope="session")
def direct_store(tmp_path_factory) -> DirectStore:
    from engine.workspace import Workspace
    root = tmp_path_factory.mktemp("direct-export")
    return DirectStore(root, Workspace.open(root / "ws"))


@pytest.mark.parametrize("family", DIRECT_FAMILIES)
def test_direct_export_matches_pytorch(direct_store, family):
    """Batched, left-padded last-position logits against PyTorch one prompt at a time, with
    both graph edits applied; and the graph as written gives the same logits."""
    folder = direct_store.hf_folder(family)
    model = open_family(direct_store, family)
    assert model.session_info["scoring_head"] == "last"
    assert model.session_info["attention"] == "fused (ONNX Attention, 2 layers)"
    texts = prompts(model)
    got = model.next_token_logits(texts)
    expected = np.stack([torch_last_logits(folder, model.encode(t)) for t in texts])
    diff = float(np.abs(got - expected).max())
    print(f"direct {family}: max |logit - PyTorch| {diff:.1e}")   # shown with pytest -s
    assert diff < LOGIT_TOLERANCE
    plain = open_family(direct_store, family, scoring_head="full", attention="plain")
    assert plain.session_info["attention"] == "plain (as exported)"
    assert np.abs(plain.next_token_logits(texts) - got).max() < 1e-4


@pytest.mark.parametrize("family", DIRECT_FAMILIES)
def test_direct_export_generates_as_pytorch(direct_store, family):
    folder = direct_store.hf_folder(family)
    model = open_family(direct_store, family)
    texts = prompts(model)
    settings = [GenerationSettings(max_new_tokens=NEW_TOKENS) for _ in texts]
    gens = model.generate_batch(texts, settings)
    for text, gen in zip(texts, gens):
        expected = model.tokenizer.decode(torch_greedy(folder, model.encode(text)),
                                          skip_special_tokens=True)
        assert gen.text == expected
        assert gen.completion_tokens == NEW_TOKENS


def test_direct_export_keeps_weights_in_a_verified_data_file(direct_store, workspace):
    """The manifest lists and hashes model.onnx_data and names the exporter (no torch); the
    graph itself is small; a flipped byte in the data is refused in one line."""
    from engine.errors import IntegrityError
    from engine.models.registry import get_manifest, load_model, model_dir, verify_model
    direct_store.hf_folder("llama")
    name = model_name("llama")
    shutil.copytree(model_dir(direct_store.ws, name), model_dir(workspace, name))
    manifest = get_manifest(workspace, name)
    folder = model_dir(workspace, name)
    assert DATA in manifest.files
    assert (folder / "model.onnx").stat().st_size < (folder / DATA).stat().st_size
    assert "safevet-direct-export" in manifest.export_tool_versions
    assert "torch" not in manifest.export_tool_versions
    verify_model(workspace, name)
    load_model(workspace, name)
    with open(folder / DATA, "r+b") as fh:
        fh.seek(8192)
        byte = fh.read(1)
        fh.seek(8192)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(IntegrityError, match=f"{DATA}") as exc:
        load_model(workspace, name)
    assert "\n" not in str(exc.value)


def test_cli_import_with_the_direct_exporter_to_int4(tmp_path, capsys):
    """`models import --exporter direct --precision int4`: exported, then quantised from
    the external-data export in place (streamed), and it loads with both graph edits."""
    from engine.cli.main import main
    from engine.models.registry import get_manifest, load_model
    from engine.workspace import Workspace
    src = build_family_hf_folder(tmp_path / "hf", "qwen2")
    home = tmp_path / "home"
    assert main(["--home", str(home), "models", "import", str(src), "--name", "q",
                 "--exporter", "direct", "--precision", "int4"]) == 0
    assert "imported" in capsys.readouterr().out
    ws = Workspace.open(home)
    manifest = get_manifest(ws, "q")
    assert DATA in manifest.files and manifest.quantization["quantized_nodes"] == 14
    model = load_model(ws, "q")
    assert model.session_info["attention"] == "fused (ONNX Attention, 2 layers)"
    assert model.session_info["scoring_head"] == "last"
    assert main(["--home", str(home), "models", "import", str(src), "--name", "q2",
                 "--exporter", "torch"]) != 0
    assert "exporter 'torch' is not one of auto, direct, optimum" in \
        " ".join(capsys.readouterr().err.split())


def test_streamed_int4_equals_the_in_memory_quantiser(direct_store, tmp_path, workspace):
    """quantize() on an external-data graph streams one MatMul at a time; its weights are
    bitwise those of MatMulNBitsQuantizer on the same graph loaded whole; the derived int4
    model keeps them in its own data file and loads."""
    import onnx
    from onnx import numpy_helper

    from engine.models.importer import derive_quantized
    from engine.models.quantize import quantize
    from engine.models.registry import get_manifest, load_model, model_dir
    direct_store.hf_folder("llama")
    src = model_dir(direct_store.ws, model_name("llama")) / "model.onnx"
    inline = tmp_path / "inline"
    inline.mkdir()
    onnx.save_model(onnx.load(str(src)), str(inline / "model.onnx"))
    streamed, whole = tmp_path / "streamed", tmp_path / "whole"
    streamed.mkdir()
    whole.mkdir()
    record = quantize(src, streamed / "model.onnx", "int4")
    assert record == quantize(inline / "model.onnx", whole / "model.onnx", "int4")
    assert record["quantized_nodes"] == 14 and (streamed / DATA).is_file()
    a, b = (onnx.load(str(d / "model.onnx")) for d in (streamed, whole))
    assert [n.op_type for n in a.graph.node] == [n.op_type for n in b.graph.node]
    left = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
    right = {t.name: numpy_helper.to_array(t) for t in b.graph.initializer}
    assert left.keys() == right.keys()
    assert all(np.array_equal(left[k], right[k]) for k in left)

    name = model_name("llama")
    shutil.copytree(model_dir(direct_store.ws, name), model_dir(workspace, name))
    derive_quantized(workspace, name, "llama-int4", "int4")
    assert DATA in get_manifest(workspace, "llama-int4").files
    model = load_model(workspace, "llama-int4")
    assert model.session_info["attention"] == "fused (ONNX Attention, 2 layers)"


def test_bf16_weights_are_widened_exactly(tmp_path):
    import torch
    from safetensors.torch import save_file

    from engine.models.weight_reader import WeightReader
    t = torch.randn(3, 5).to(torch.bfloat16)
    h = torch.randn(4).to(torch.float16)
    save_file({"a": t, "h": h}, str(tmp_path / "model.safetensors"))
    reader = WeightReader(tmp_path)
    assert np.array_equal(reader.read("a"), t.float().numpy())
    assert np.array_equal(reader.read("h"), h.float().numpy())
    assert reader.read("a").dtype == np.float32


def test_llama3_rope_scaling_matches_transformers():
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    from engine.models.direct_export import _inv_freq
    scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    config = dict(hidden_size=4096, num_attention_heads=32, rope_theta=500000.0,
                  rope_scaling=scaling, max_position_embeddings=131072)
    expected, _ = ROPE_INIT_FUNCTIONS["llama3"](LlamaConfig(**config), "cpu")
    got = _inv_freq(config, 128, Path("config.json"))
    assert np.allclose(got, expected.numpy(), rtol=1e-6, atol=0)


def test_families_it_does_not_build_are_refused_in_one_line(tmp_path):
    from engine.models.direct_export import DirectExportError, export_direct
    from engine.models.exporters import DIRECT_ABOVE_PARAMETERS, choose_exporter
    src = build_family_hf_folder(tmp_path / "hf", "gemma2")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DirectExportError, match="model_type 'gemma2'.*use --exporter optimum"):
        export_direct(src, out)
    assert choose_exporter("auto", src, DIRECT_ABOVE_PARAMETERS * 10) == "optimum"
    config = json.loads((src / "config.json").read_text())
    config["model_type"] = "llama"
    (src / "config.json").write_text(json.dumps(config))
    assert choose_exporter("auto", src, DIRECT_ABOVE_PARAMETERS * 10) == "direct"
    assert choose_exporter("auto", src, 1000) == "optimum"


_MEMORY_CHILD = """
import sys
from pathlib import Path
from engine.models.direct_export import export_direct
from engine.models.quantize import _quantizer_class, quantize
_quantizer_class()
step, src, out = sys.argv[1:4]
if step == "export":
    export_direct(Path(src), Path(out))
elif step == "int4":
    quantize(Path(src) / "model.onnx", Path(out) / "model.onnx", "int4")
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) * 1024)
"""


def test_export_and_quantisation_hold_about_one_tensor(tmp_path):
    """Peak memory of the direct export and of the streamed int4 quantisation, each in its
    own process, above a process that only imported the same code: a fraction of the
    weights (the largest tensor is 1/7 of them here), not all of them (the in-memory
    paths hold every weight at once)."""
    import subprocess
    import sys

    from benchmarks.random_llama import RandomLlama, write
    tok = build_family_hf_folder(tmp_path / "tok", "llama")
    spec = RandomLlama(hidden=512, layers=6, heads=8, kv_heads=4, intermediate=2048,
                       vocab=8192)
    write(tmp_path / "hf", spec, tokenizer_from=tok)
    exported, quantised = tmp_path / "fp32", tmp_path / "int4"
    exported.mkdir()
    quantised.mkdir()
    repo = Path(__file__).resolve().parents[1]

    def peak(step: str, src: Path, out: Path) -> int:
        proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, step, str(src), str(out)],
                              cwd=repo, capture_output=True, text=True, check=True)
        return int(proc.stdout.split()[-1])

    base = peak("none", tmp_path, tmp_path)
    export_extra = peak("export", tmp_path / "hf", exported) - base
    weights = (exported / DATA).stat().st_size
    quantise_extra = peak("int4", exported, quantised) - base
    print(f"weights {weights / 2**20:.0f} MiB; above the bare process: export "
          f"{export_extra / 2**20:.0f} MiB, int4 {quantise_extra / 2**20:.0f} MiB")
    assert export_extra < 0.4 * weights
    assert quantise_extra < 0.4 * weights
