"""A model folder from removable media is untrusted: `models add-exported` contains every
name its manifest lists, never follows a link, refuses manifests and files that do not
hold what they claim, and a killed import leaves nothing behind for long."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.workspace import Workspace


def _run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    _, err = capsys.readouterr()
    return code, err


def _rehash(folder: Path, rename: dict[str, str] | None = None,
            update: dict | None = None) -> None:
    """Rewrite the manifest the way an attacker would: listed names changed, hashes fixed."""
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    files = dict(data["files"])
    for old, new in (rename or {}).items():
        files[new] = files.pop(old)
    for rel in files:
        target = folder / rel
        if target.is_file():
            files[rel] = hashlib.sha256(target.read_bytes()).hexdigest()
    data["files"] = files
    data.update(update or {})
    path.write_text(json.dumps(data))


@pytest.fixture
def usb(tiny_model_ws, tmp_path):
    """(copied model folder, target workspace home, tmp root) — a fresh copy per test."""
    from engine.models.registry import model_dir
    ws, name = tiny_model_ws
    copied = tmp_path / "usb" / name
    shutil.copytree(model_dir(ws, name), copied)
    target = Workspace.open(tmp_path / "station" / "home")
    return copied, target, tmp_path


def _outside_files(root: Path, home: Path) -> set[Path]:
    return {p for p in root.rglob("*") if home not in p.parents and p != home}


def _assert_refused(capsys, copied: Path, target: Workspace, root: Path, needle: str) -> None:
    before = _outside_files(root, target.home)
    code, err = _run(capsys, "--home", str(target.home), "models", "add-exported", str(copied))
    assert code == 2, err
    assert needle in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert _outside_files(root, target.home) == before      # nothing written outside
    assert [p.name for p in target.models_dir.iterdir()] == []  # nothing registered or left


def test_traversal_key_writes_nothing_outside(usb, capsys):
    copied, target, root = usb
    key = "../../escape-demo/owned.txt"
    planted = copied / key           # where the source side of the key points
    planted.parent.mkdir(parents=True)
    planted.write_text("owned")
    data = json.loads((copied / "manifest.json").read_text())
    data["files"][key] = hashlib.sha256(b"owned").hexdigest()
    (copied / "manifest.json").write_text(json.dumps(data))
    _assert_refused(capsys, copied, target, root, "climbs out of its folder")
    assert not (target.home / "escape-demo").exists()
    assert not (target.home.parent / "escape-demo").exists()


def test_absolute_key_is_refused(usb, capsys):
    copied, target, root = usb
    _rehash(copied, rename={"tokenizer_config.json": str(copied / "tokenizer_config.json")})
    _assert_refused(capsys, copied, target, root, "is an absolute path")


def test_onnx_file_outside_the_folder_is_refused(usb, capsys):
    copied, target, root = usb
    _rehash(copied, update={"onnx_file": "../other-model/model.onnx"})
    _assert_refused(capsys, copied, target, root, "onnx_file")


def test_symlinked_model_file_is_refused(usb, capsys):
    copied, target, root = usb
    (copied / "tokenizer_config.json").unlink()
    os.symlink("/etc/passwd", copied / "tokenizer_config.json")
    _rehash(copied)
    _assert_refused(capsys, copied, target, root, "symbolic link")


@pytest.mark.parametrize("update, needle", [
    ({"manifest_version": 2}, "manifest_version"),
    ({"context_length": -1}, "context_length"),
    ({"context_length": "2048"}, "context_length"),
    ({"num_layers": True}, "num_layers"),
])
def test_manifest_fields_are_strict(usb, capsys, update, needle):
    copied, target, root = usb
    _rehash(copied, update=update)
    _assert_refused(capsys, copied, target, root, needle)


@pytest.mark.parametrize("rel, content, needle", [
    ("tokenizer.json", b"", "not a readable tokenizer.json"),
    ("tokenizer.json", b"{\"not\": \"a tokenizer\"}", "not a readable tokenizer.json"),
    ("model.onnx", b"", "not a causal language model export"),
    ("model.onnx", b"\x08\x07garbage\xff\xff\xff", "ONNX"),
])
def test_unparseable_files_with_updated_hashes_are_refused(usb, capsys, rel, content, needle):
    copied, target, root = usb
    (copied / rel).write_bytes(content)
    _rehash(copied)
    _assert_refused(capsys, copied, target, root, needle)


def test_non_utf8_manifest_is_one_line(usb, capsys):
    copied, target, root = usb
    (copied / "manifest.json").write_bytes(b"{\"name\": \"\xff\xfe\"}")
    _assert_refused(capsys, copied, target, root, "not UTF-8 text")


def test_external_weights_outside_the_manifest_are_refused(usb, capsys):
    """A graph may name its weights in another file: that file must be listed and inside."""
    import onnx
    copied, target, root = usb
    model = onnx.load(str(copied / "model.onnx"))
    init = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    onnx.external_data_helper.set_external_data(init, location="../../secret.bin")
    init.ClearField("raw_data")
    onnx.save(model, str(copied / "model.onnx"))
    _rehash(copied)
    _assert_refused(capsys, copied, target, root, "climbs out of its folder")


def test_the_genuine_copy_still_registers(usb, capsys):
    copied, target, _ = usb
    code, err = _run(capsys, "--home", str(target.home), "models", "add-exported", str(copied))
    assert code == 0, err


def test_a_killed_import_leaves_staging_that_the_next_command_removes(workspace, capsys):
    """SIGKILL inside the staging block (as a killed add-exported would be), then any
    command on the workspace removes the abandoned folder and its marker."""
    code = ("import os, signal\n"
            "from engine.leftovers import staging_folder\n"
            "from engine.workspace import Workspace\n"
            f"ws = Workspace.open({str(workspace.home)!r})\n"
            "with staging_folder(ws.models_dir, '.importing-big-') as d:\n"
            "    (d / 'model.onnx').write_bytes(b'0' * 4096)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent)
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in workspace.models_dir.iterdir()]
    assert any(n.startswith(".importing-big-") for n in left), left
    code, err = _run(capsys, "--home", str(workspace.home), "models", "list")
    assert code == 0
    assert [p.name for p in workspace.models_dir.iterdir()] == []
    assert "left by an interrupted command" in err


def test_a_live_staging_folder_is_never_swept(workspace):
    from engine.leftovers import remove_abandoned_staging, staging_folder
    with staging_folder(workspace.models_dir, ".importing-live-") as d:
        assert remove_abandoned_staging(workspace) == []
        assert d.is_dir()
    assert list(workspace.models_dir.iterdir()) == []
