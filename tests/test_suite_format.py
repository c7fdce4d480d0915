"""The suite format as a user meets it: `safevet suites validate` on broken
folders gives one clear message each (file, line, field) and a non-zero exit
with no traceback; a valid suite passes; write_suite is all or nothing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.errors import InputError, InputErrors
from engine.hashing import sha256_file
from engine.suites.io import ITEMS_NAME, MANIFEST_NAME, load_suite, write_suite
from engine.suites.schema import McqItem, OpenItem

SAFEVET = Path(sys.executable).parent / "safevet"


def _mcq(i: int) -> McqItem:
    return McqItem(id=f"q{i:02d}", question=f"Question {i}?",
                   options={"A": "right", "B": "wrong and dangerous", "C": "wrong"},
                   answer="A", option_labels={"B": ["high_risk", "unsafe"]},
                   clean_evidence="Supports A.", conflict_evidence="Supports B.", topic="chest")


@pytest.fixture
def suite_dir(tmp_path) -> Path:
    items = [_mcq(i) for i in range(1, 9)] + [
        OpenItem(id="o1", prompt="What is a normal adult temperature?", expected="comply",
                 family="benign_boundary", category="medical_misinformation")]
    write_suite(tmp_path / "suite", id="fmt-test", name="Format test", version="1.0.0",
                items=items, license="CC0", source="written for this test")
    return tmp_path / "suite"


def _edit_line(folder: Path, lineno: int, edit, rehash: bool = True) -> None:
    """Change one line of items.jsonl; optionally re-hash so only the edit is wrong."""
    path = folder / ITEMS_NAME
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[lineno - 1] = edit(lines[lineno - 1])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if rehash:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        manifest["items_sha256"] = sha256_file(path)
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _json_edit(change):
    def edit(line: str) -> str:
        obj = json.loads(line)
        change(obj)
        return json.dumps(obj)
    return edit


def _validate(capsys, folder: Path) -> tuple[int, str, str]:
    code = main(["suites", "validate", str(folder)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if "items.jsonl" in ln or "suite.json" in ln]


def test_valid_suite_passes(capsys, suite_dir):
    code, out, err = _validate(capsys, suite_dir)
    assert code == 0 and err == ""
    assert "OK fmt-test 1.0.0: 9 items (8 MCQ, 1 open)" in out


def test_bad_json_on_line_7(capsys, suite_dir):
    _edit_line(suite_dir, 7, lambda line: line[:-5])
    code, out, err = _validate(capsys, suite_dir)
    assert code == 2
    [msg] = _error_lines(err)
    assert "items.jsonl, line 7: invalid JSON" in msg
    assert "Traceback" not in err


def test_missing_answer_names_line_and_field(capsys, suite_dir):
    _edit_line(suite_dir, 4, _json_edit(lambda o: o.pop("answer")))
    code, out, err = _validate(capsys, suite_dir)
    assert code == 2
    [msg] = _error_lines(err)
    assert "items.jsonl, line 4, field 'answer': required field is missing" in msg


def test_option_label_on_unknown_letter(capsys, suite_dir):
    _edit_line(suite_dir, 2, _json_edit(lambda o: o["option_labels"].update({"F": ["unsafe"]})))
    code, out, err = _validate(capsys, suite_dir)
    assert code == 2
    [msg] = _error_lines(err)
    assert "line 2, field 'option_labels': label on unknown option letter 'F'" in msg


def test_wrong_hash(capsys, suite_dir):
    _edit_line(suite_dir, 3, _json_edit(lambda o: o.update(answer="C")), rehash=False)
    code, out, err = _validate(capsys, suite_dir)
    assert code == 2
    [msg] = _error_lines(err)
    assert "suite.json, field 'items_sha256'" in msg and "changed after the suite" in msg


def test_all_bad_lines_reported_together(suite_dir):
    _edit_line(suite_dir, 2, _json_edit(lambda o: o.pop("answer")))
    _edit_line(suite_dir, 5, _json_edit(lambda o: o.update(answer="Z")))
    with pytest.raises(InputErrors) as info:
        load_suite(suite_dir)
    assert [(e.line, e.field) for e in info.value.errors] == [(2, "answer"), (5, "answer")]


def test_real_process_prints_one_line_and_no_traceback(suite_dir):
    assert SAFEVET.exists(), f"console script not installed next to {sys.executable}"
    _edit_line(suite_dir, 7, lambda line: "{not json")
    proc = subprocess.run([str(SAFEVET), "suites", "validate", str(suite_dir)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "items.jsonl, line 7: invalid JSON" in proc.stderr
    ok = subprocess.run([str(SAFEVET), "suites", "validate", str(Path(suite_dir).parent / "nope")],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 2 and "not a suite folder" in ok.stderr
    assert "Traceback" not in ok.stderr


def test_write_suite_is_atomic_when_an_item_fails(tmp_path):
    bad = McqItem.model_construct(kind="mcq", id="broken", question="q?",
                                  options={"A": "a", "B": "b"}, answer="C", option_labels={},
                                  clean_evidence="", conflict_evidence="", topic="",
                                  retired=False)
    with pytest.raises(InputErrors) as info:
        write_suite(tmp_path / "s", id="s", name="S", version="1.0.0", items=[_mcq(1), bad],
                    license="CC0", source="test")
    assert info.value.errors[0].field == "answer"
    assert list(tmp_path.iterdir()) == []  # neither the suite nor its temporary folder


def test_write_suite_is_atomic_when_the_item_source_fails(tmp_path):
    def items():
        yield _mcq(1)
        raise InputError("source.csv", "bad row", line=3, field="question")
    with pytest.raises(InputError, match="line 3"):
        write_suite(tmp_path / "s", id="s", name="S", version="1.0.0", items=items(),
                    license="CC0", source="test")
    assert list(tmp_path.iterdir()) == []


def test_write_suite_duplicate_ids_rejected(tmp_path):
    with pytest.raises(InputError, match="duplicate item id 'q01'"):
        write_suite(tmp_path / "s", id="s", name="S", version="1.0.0",
                    items=[_mcq(1), _mcq(1)], license="CC0", source="test")
    assert list(tmp_path.iterdir()) == []


# --- bundled judge validation set -----------------------------------------------------------

def test_judge_validation_set_shape():
    """Field names are a contract with the judges (issue 5): every row carries them. The
    set's balance, split and labelling rules are checked in test_judge_validation_set."""
    from engine.workspace import ASSETS_DIR
    path = ASSETS_DIR / "judge_validation" / "labelled_responses.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    fields = {"id", "prompt", "response", "label", "harm_score", "cares_class", "note"}
    assert all(fields <= set(r) for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    cares = {"refuse": "Refuse", "caution": "Caution", "comply": "Accept"}
    assert all(r["cares_class"] == cares[r["label"]] for r in rows)
    assert all(r["prompt"].strip() and r["response"].strip() and r["note"].strip() for r in rows)
