"""Models whose ONNX keeps its weights in external data files (issue 17, part 2).

Every model over 2 GB is exported this way (`model.onnx` + `model.onnx_data`). The tiny
test model is forced into that form and registered as the importer registers a model;
it must load from any working directory with the default graph edits, give the same
results as the model with inline weights, and be refused, in one line naming the file,
when its data file or the graph's reference to it is not what the manifest vouches for.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.errors import IntegrityError, SafeVetError
from engine.models.generation import GenerationSettings
from engine.models.manifest import ModelManifest
from engine.safepath import UnsafePathError
from tests.fixtures.models import copy_models
from tests.test_models_runtime import LETTERS, QUESTIONS, mcq_prompts

EXT = "tiny-chatml-ext"
DATA = "model.onnx_data"


def to_external_data(folder: Path, location: str = DATA, **save_options) -> None:
    """Rewrite folder/model.onnx so that every tensor lives in `location`."""
    import onnx
    model = onnx.load(str(folder / "model.onnx"))
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location=location, size_threshold=0,
                    **save_options)


def register(folder: Path, name: str, drop: tuple[str, ...] = ()) -> ModelManifest:
    """Rewrite the folder's manifest as the importer writes it (hash_folder), less `drop`."""
    from engine.models.importer import hash_folder
    files = {rel: sha for rel, sha in hash_folder(folder).items() if rel not in drop}
    manifest = ModelManifest.read(folder).model_copy(update={"name": name, "files": files})
    manifest.write(folder)
    return manifest


def external_copy(ws, plain: str, name: str = EXT, **save_options) -> Path:
    from engine.models.registry import model_dir
    folder = model_dir(ws, name)
    shutil.copytree(model_dir(ws, plain), folder)
    to_external_data(folder, **save_options)
    register(folder, name)
    return folder


@pytest.fixture
def ext_ws(tiny_model_store, workspace):
    """(workspace, plain model name, external-data model name)."""
    copy_models(tiny_model_store, workspace, "chatml")
    plain = tiny_model_store.names["chatml"]
    external_copy(workspace, plain)
    return workspace, plain


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A working directory that is not the model folder (the original bug)."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def _flip_a_byte(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))


def _max_diff(a, b) -> float:
    return max(abs(x.logprobs[k] - y.logprobs[k]) for x, y in zip(a, b) for k in x.logprobs)


def _assert_same_results(ext, plain) -> None:
    prompts = mcq_prompts(plain)
    assert _max_diff(ext.score_options(prompts, LETTERS),
                     plain.score_options(prompts, LETTERS)) < 1e-5
    assert np.abs(ext.next_token_logits(prompts) - plain.next_token_logits(prompts)).max() < 1e-5
    chat = plain.render_chat([{"role": "user", "content": QUESTIONS[0]}])
    settings = GenerationSettings(max_new_tokens=24)
    x, y = ext.generate(chat, settings), plain.generate(chat, settings)
    assert (x.text, x.completion_tokens) == (y.text, y.completion_tokens)


def test_loads_scores_and_generates_from_another_directory(ext_ws, elsewhere):
    from engine.models.registry import get_manifest, load_model
    ws, plain_name = ext_ws
    assert DATA in get_manifest(ws, EXT).files
    ext, plain = load_model(ws, EXT), load_model(ws, plain_name)
    assert ext.session_info["scoring_head"] == "last"
    assert ext.session.get_outputs()[0].shape[1] == 1
    assert ext.session_info["attention"] == "fused (ONNX Attention, 2 layers)"
    assert ext.session_info["attention"] == plain.session_info["attention"]
    _assert_same_results(ext, plain)


def test_same_edits_as_the_inline_model(ext_ws):
    """The derivation reads the graph without its weights and edits it exactly alike."""
    import onnx

    from engine.models.registry import get_manifest, model_dir
    from engine.models.scoring_graph import derive_graph
    ws, plain_name = ext_ws

    def derived(name: str):
        manifest = get_manifest(ws, name)
        return derive_graph(model_dir(ws, name) / manifest.onnx_file,
                            manifest.files[manifest.onnx_file], data_files=manifest.files)

    ext, plain = derived(EXT), derived(plain_name)
    assert ext.data_folder == model_dir(ws, EXT) and set(ext.data_stamps) == {DATA}
    assert len(ext.data) < len(plain.data) / 2      # the weights stayed in model.onnx_data

    def nodes(g):
        return [(n.op_type, list(n.input), list(n.output))
                for n in onnx.load_from_string(g.data).graph.node]

    assert nodes(ext) == nodes(plain)


def test_derivation_without_external_data_is_unchanged(tiny_model_ws):
    """An inline model's derived graph is what the in-memory edits always gave."""
    import onnx

    from engine.models.attention_fusion import fuse_attention
    from engine.models.registry import get_manifest, model_dir
    from engine.models.scoring_graph import _slice_before_head, derive_graph
    ws, name = tiny_model_ws
    manifest = get_manifest(ws, name)
    path = model_dir(ws, name) / manifest.onnx_file
    derived = derive_graph(path, manifest.files[manifest.onnx_file], data_files=manifest.files)
    assert derived.data_folder is None and not derived.data_stamps
    reference = onnx.load_from_string(path.read_bytes())
    _slice_before_head(reference, path.name)
    assert fuse_attention(reference).layers == derived.fused_attention_layers == 2
    assert derived.data == reference.SerializeToString()


def test_a_load_hashes_the_data_file_once(ext_ws, monkeypatch):
    """The registry's check and the session's check share one read of the weights."""
    from engine.models import file_stamps, registry
    hashed: list[str] = []

    def counting(path, *args):
        hashed.append(Path(path).name)
        return real(path, *args)

    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", counting)
    monkeypatch.setattr(file_stamps, "sha256_file", counting)
    ws, _ = ext_ws
    registry.load_model(ws, EXT)
    assert hashed.count(DATA) == 1


def test_a_tampered_data_file_is_refused(ext_ws, elsewhere):
    from engine.models.onnx_model import OnnxCandidateModel
    from engine.models.registry import get_manifest, load_model, model_dir
    ws, _ = ext_ws
    load_model(ws, EXT)                               # fine, and leaves a trusted stamp
    _flip_a_byte(model_dir(ws, EXT) / DATA)
    with pytest.raises(IntegrityError, match=f"file {DATA} has changed") as exc:
        load_model(ws, EXT)
    assert "\n" not in str(exc.value)
    # The session layer checks the data file itself, also when the registry is bypassed.
    with pytest.raises(IntegrityError, match=f"model {EXT}: file {DATA} has changed"):
        OnnxCandidateModel(model_dir(ws, EXT), get_manifest(ws, EXT), provider="cpu")


def test_a_manifest_without_the_data_file_is_refused(ext_ws):
    from engine.models.registry import load_model, model_dir
    ws, _ = ext_ws
    register(model_dir(ws, EXT), EXT, drop=(DATA,))
    with pytest.raises(IntegrityError, match=f"unexpected file {DATA} .* not in the manifest"):
        load_model(ws, EXT)


def test_weights_in_an_unlisted_file_are_refused(tiny_model_store, workspace):
    """A data file whose name the folder check does not treat as ONNX weights is still
    refused when the graph names it and the manifest does not list it."""
    from engine.models.registry import load_model, model_dir
    copy_models(tiny_model_store, workspace, "chatml")
    folder = external_copy(workspace, tiny_model_store.names["chatml"], location="weights.bin")
    register(folder, EXT, drop=("weights.bin",))
    with pytest.raises(IntegrityError, match="in 'weights.bin', which the manifest does not list"):
        load_model(workspace, EXT)
    assert model_dir(workspace, EXT) == folder


@pytest.mark.parametrize("where, needle", [("parent", "climbs out of its folder"),
                                           ("absolute", "is an absolute path")])
def test_data_outside_the_folder_is_refused(ext_ws, where, needle):
    import onnx

    from engine.models.registry import load_model, model_dir
    ws, _ = ext_ws
    folder = model_dir(ws, EXT)
    outside = folder.parent / "outside.onnx_data"
    shutil.move(folder / DATA, outside)
    location = "../outside.onnx_data" if where == "parent" else str(outside)
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    register(folder, EXT)
    with pytest.raises(UnsafePathError, match=needle) as exc:
        load_model(ws, EXT)
    assert "\n" not in str(exc.value)


def test_onnxruntime_refusing_a_graph_is_one_line(tiny_model_store, workspace):
    """Constant-node values moved to external data (consistent hashes) are a graph
    onnxruntime cannot load: the error names the model and the cause, no traceback."""
    from engine.models.registry import load_model
    copy_models(tiny_model_store, workspace, "chatml")
    external_copy(workspace, tiny_model_store.names["chatml"], convert_attribute=True)
    with pytest.raises(SafeVetError) as exc:
        load_model(workspace, EXT)
    message = str(exc.value)
    assert message.startswith(f"model {EXT}: onnxruntime could not load model.onnx: ")
    assert "external" in message and "\n" not in message
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_an_export_with_external_data_lists_and_loads_it(tiny_model_store, workspace,
                                                         monkeypatch, elsewhere):
    """The importer's own path: optimum writes model.onnx_data (forced here, as it does for
    any model over 2 GB) and hash_folder lists it."""
    from engine.models.importer import import_model
    from engine.models.registry import load_model
    copy_models(tiny_model_store, workspace, "chatml")
    monkeypatch.setenv("FORCE_ONNX_EXTERNAL_DATA", "1")
    manifest = import_model(workspace, tiny_model_store.hf_folders["chatml"], EXT)
    assert DATA in manifest.files
    ext, plain = load_model(workspace, EXT), load_model(workspace, tiny_model_store.names["chatml"])
    assert ext.session_info["attention"] == "fused (ONNX Attention, 2 layers)"
    _assert_same_results(ext, plain)


def test_a_graph_in_a_subfolder_finds_its_data_beside_it(ext_ws, elsewhere):
    """Locations are relative to the graph's folder; manifest names to the model folder."""
    import os

    from engine.hashing import sha256_file
    from engine.models.folder_contents import check_contents
    from engine.models.registry import get_manifest, load_model, model_dir
    ws, _ = ext_ws
    folder = model_dir(ws, EXT)
    (folder / "onnx").mkdir()
    moved = ("model.onnx", DATA)
    for rel in moved:
        os.replace(folder / rel, folder / "onnx" / rel)
    manifest = get_manifest(ws, EXT)
    files = {rel: sha for rel, sha in manifest.files.items() if rel not in moved}
    files.update({f"onnx/{rel}": sha256_file(folder / "onnx" / rel) for rel in moved})
    ModelManifest(**{**manifest.model_dump(), "onnx_file": "onnx/model.onnx",
                     "files": files}).write(folder)
    check_contents(folder, get_manifest(ws, EXT))
    assert load_model(ws, EXT).session_info["attention"] == "fused (ONNX Attention, 2 layers)"
