"""Model store: manifests, hash checks on load and verify, bad sources refused clearly."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from engine.errors import IntegrityError, NotFoundError, SafeVetError
from engine.hashing import sha256_file
from engine.models.manifest import ModelManifest
from engine.models.registry import (get_manifest, list_models, load_model, model_dir,
                                    remove_model, verify_model)
from engine.models.sources import IncompleteSourceError, UnsupportedArchitectureError


def test_manifest_describes_the_export(tiny_model_ws, tiny_model_store):
    ws, name = tiny_model_ws
    m = get_manifest(ws, name)
    assert [x.name for x in list_models(ws)] == [name]
    assert (m.precision, m.architecture, m.model_type) == ("fp32", "LlamaForCausalLM", "llama")
    assert (m.num_layers, m.num_kv_heads, m.head_dim, m.context_length) == (2, 2, 16, 256)
    assert m.source_kind == "hf_folder" and len(m.source_sha256) == 64
    assert m.parameter_count > 90_000
    assert m.chat_template and "<|im_start|>" in m.chat_template
    st = m.special_tokens
    assert st.eos_token == "<|im_end|>" and st.eos_token_id in st.stop_token_ids
    assert {"optimum", "transformers", "onnxruntime", "torch"} <= set(m.export_tool_versions)
    folder = model_dir(ws, name)
    assert "model.onnx" in m.files and "tokenizer.json" in m.files
    for rel, sha in m.files.items():
        assert sha256_file(folder / rel) == sha
    on_disk = {p.name for p in folder.iterdir()} - {"manifest.json"}
    assert on_disk == set(m.files)
    # the int8 copy is derived from the fp32 export, not exported again
    i8 = get_manifest(tiny_model_store.ws, tiny_model_store.names["chatml-int8"])
    assert (i8.derived_from, i8.source_sha256) == (name, m.source_sha256)


def test_changed_byte_is_refused_naming_the_file(tiny_model_ws):
    ws, name = tiny_model_ws
    load_model(ws, name)  # fills the (size, mtime) cache
    path = model_dir(ws, name) / "model.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.onnx has changed or is truncated"):
        load_model(ws, name)
    with pytest.raises(IntegrityError, match="model.onnx"):
        verify_model(ws, name)


def test_truncated_and_missing_files_are_refused(tiny_model_ws):
    ws, name = tiny_model_ws
    folder = model_dir(ws, name)
    tok = folder / "tokenizer.json"
    tok.write_bytes(tok.read_bytes()[:100])
    with pytest.raises(IntegrityError, match="tokenizer.json"):
        load_model(ws, name)
    tok.unlink()
    with pytest.raises(IntegrityError, match="tokenizer.json is missing"):
        load_model(ws, name)


def test_edit_that_keeps_size_and_mtime_is_still_caught(tiny_model_ws):
    """Load trusts an unchanged (size, mtime_ns, ctime_ns); restoring the mtime is not enough."""
    ws, name = tiny_model_ws
    load_model(ws, name)
    path = model_dir(ws, name) / "config.json"
    st = path.stat()
    text = path.read_text()
    path.write_text(text.replace('"llama"', '"LLAMA"'))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    with pytest.raises(IntegrityError, match="config.json"):
        load_model(ws, name)
    with pytest.raises(IntegrityError, match="config.json"):
        verify_model(ws, name)


def test_extra_weight_file_is_refused(tiny_model_ws):
    ws, name = tiny_model_ws
    (model_dir(ws, name) / "model.onnx_data").write_bytes(b"x")
    with pytest.raises(IntegrityError, match="model.onnx_data"):
        load_model(ws, name)


def test_unknown_and_removed_models(tiny_model_ws):
    ws, name = tiny_model_ws
    with pytest.raises(NotFoundError, match="no model named 'nope'.*tiny-chatml"):
        load_model(ws, "nope")
    with pytest.raises(SafeVetError, match="invalid model name"):
        get_manifest(ws, "../etc")
    remove_model(ws, name)
    assert list_models(ws) == [] and not model_dir(ws, name).exists()
    with pytest.raises(NotFoundError):
        remove_model(ws, name)


def test_incomplete_source_lists_missing_files(tiny_model_store, workspace, tmp_path):
    from engine.models.importer import import_model
    src = tmp_path / "partial"
    shutil.copytree(tiny_model_store.hf_folders["chatml"], src)
    (src / "model.safetensors").unlink()
    (src / "tokenizer.json").unlink()
    with pytest.raises(IncompleteSourceError) as info:
        import_model(workspace, src, "partial")
    msg = str(info.value)
    assert "model.safetensors" in msg and "tokenizer.json" in msg and "config.json" not in msg
    assert list(workspace.models_dir.iterdir()) == []
    with pytest.raises(SafeVetError, match="does not exist"):
        import_model(workspace, tmp_path / "nowhere", "x")


def test_failed_export_leaves_nothing_behind(tiny_model_store, workspace, tmp_path):
    from engine.models.importer import ExportError, import_model
    src = tmp_path / "broken"
    shutil.copytree(tiny_model_store.hf_folders["chatml"], src)
    cfg = json.loads((src / "config.json").read_text())
    cfg["model_type"] = "no-such-architecture"
    (src / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ExportError, match="export"):
        import_model(workspace, src, "broken")
    assert list(workspace.models_dir.iterdir()) == []
    assert not [p for p in workspace.cache_dir.iterdir() if p.name.startswith("convert-")]


def test_unsupported_gguf_architecture(workspace, tmp_path):
    import gguf
    import numpy as np

    from engine.models.importer import import_model
    path = tmp_path / "tiny-bert.gguf"
    writer = gguf.GGUFWriter(str(path), "bert")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(UnsupportedArchitectureError, match="architecture 'bert' is not supported"):
        import_model(workspace, path, "bert-model")
    assert list(workspace.models_dir.iterdir()) == []
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"NOPE" + b"\0" * 64)
    with pytest.raises(SafeVetError, match="not a GGUF file"):
        import_model(workspace, fake, "fake")


def test_name_clash_and_bad_precision(tiny_model_ws, tiny_model_store):
    from engine.models.importer import import_model
    ws, name = tiny_model_ws
    with pytest.raises(SafeVetError, match="already exists"):
        import_model(ws, tiny_model_store.hf_folders["chatml"], name)
    with pytest.raises(SafeVetError, match="precision 'int3' cannot be imported"):
        import_model(ws, tiny_model_store.hf_folders["chatml"], "other", "int3")


def test_manifest_round_trip(tiny_model_ws):
    ws, name = tiny_model_ws
    folder = model_dir(ws, name)
    m = ModelManifest.read(folder)
    assert ModelManifest.model_validate_json(m.model_dump_json()) == m
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(SafeVetError, match="manifest"):
        get_manifest(ws, name)
