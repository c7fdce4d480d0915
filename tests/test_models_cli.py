"""`safevet models ...` end to end on the tiny model (one int8 import through the CLI)."""
from __future__ import annotations

import json

from engine.cli.main import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_list_show_verify_remove(tiny_model_store, workspace, capsys):
    home = str(workspace.home)
    src = str(tiny_model_store.hf_folders["llama"])
    code, out, _ = run(capsys, "--home", home, "models", "import", src, "--name", "cli-int8",
                       "--precision", "int8")
    assert code == 0, out
    assert "exporting to ONNX" in out and "quantising to int8" in out
    assert "imported cli-int8 (int8" in out
    code, out, _ = run(capsys, "--home", home, "models", "list")
    assert code == 0 and "cli-int8" in out and "int8" in out
    code, out, _ = run(capsys, "--home", home, "models", "show", "cli-int8", "--json")
    shown = json.loads(out)["model"]   # the --json envelope: {format_version, kind, model}
    assert shown["precision"] == "int8" and shown["quantization"]["bits"] == 8
    assert shown["quantization"]["accuracy_level"] == 4
    code, out, _ = run(capsys, "--home", home, "models", "verify")
    assert code == 0 and "cli-int8: ok" in out

    onnx = workspace.models_dir / "cli-int8" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-10])
    code, out, err = run(capsys, "--home", home, "models", "verify", "cli-int8")
    assert code == 1  # the check ran and failed (issue 19: 1, not the input-error 2)
    assert "model.onnx has changed or is truncated" in err and "Traceback" not in err

    code, out, _ = run(capsys, "--home", home, "models", "remove", "cli-int8", "--yes")
    assert code == 0 and not (workspace.models_dir / "cli-int8").exists()


def test_errors_are_one_line(workspace, tmp_path, capsys):
    home = str(workspace.home)
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "--home", home, "models", "import", str(tmp_path / "empty"),
                       "--name", "x")
    assert code == 2 and "missing: config.json" in err and "Traceback" not in err
    code, _, err = run(capsys, "--home", home, "models", "show", "nothing")
    assert code == 2 and "no model named 'nothing'" in err
    code, out, _ = run(capsys, "--home", home, "models", "list")
    assert code == 0 and "no models" in out


def test_add_exported_folder_from_another_workspace(tiny_model_ws, tmp_path, capsys):
    """A runtime-only workstation registers a copied export: hashes checked, nothing on error."""
    import shutil

    from engine.models.registry import load_model, model_dir
    from engine.workspace import Workspace
    ws, name = tiny_model_ws
    copied = tmp_path / "usb-stick" / name
    shutil.copytree(model_dir(ws, name), copied)
    other = Workspace.open(tmp_path / "workstation")
    home = str(other.home)

    code, out, _ = run(capsys, "--home", home, "models", "add-exported", str(copied),
                       "--name", "vetted-copy")
    assert code == 0, out
    assert "registered vetted-copy" in out
    a = load_model(ws, name).next_token_logits(["the chest x-ray shows"])
    b = load_model(other, "vetted-copy").next_token_logits(["the chest x-ray shows"])
    assert (a == b).all()

    # again under the same name: refused, the registered copy untouched
    code, _, err = run(capsys, "--home", home, "models", "add-exported", str(copied),
                       "--name", "vetted-copy")
    assert code == 2 and "already exists" in err

    # a changed byte in the source: refused naming the file, nothing registered or left over
    onnx = copied / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 1
    onnx.write_bytes(bytes(data))
    code, _, err = run(capsys, "--home", home, "models", "add-exported", str(copied))
    assert code == 2 and "model.onnx has changed" in err and "Traceback" not in err
    assert not (other.models_dir / name).exists()
    assert [p.name for p in other.models_dir.iterdir()] == ["vetted-copy"]

    # an ONNX weight file the manifest does not list, and a folder without a manifest
    shutil.copy(model_dir(ws, name) / "model.onnx", onnx)
    (copied / "extra.onnx_data").write_bytes(b"0")
    code, _, err = run(capsys, "--home", home, "models", "add-exported", str(copied))
    assert code == 2 and "unexpected file extra.onnx_data" in err
    code, _, err = run(capsys, "--home", home, "models", "add-exported", str(tmp_path))
    assert code == 2 and "not a SafeVet model folder" in err
    assert [p.name for p in other.models_dir.iterdir()] == ["vetted-copy"]
