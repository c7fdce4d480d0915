"""`safevet suites import | validate | list | show` as a user runs them, in
process against a temporary workspace, plus the bundled open-ended demo suite."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.suites.importers.cares import EXPECTED_BY_LEVEL
from engine.suites.io import load_suite
from engine.workspace import ASSETS_DIR

DATA = Path(__file__).parent / "data"
DEMO_OPEN = ASSETS_DIR / "suites" / "demo-open-safety"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_validate_list_show_round_trip(capsys, workspace):
    code, out, err = _run(capsys, "suites", "import", "generic-csv", str(DATA / "generic_mcq.csv"),
                          "--id", "radiology-inhouse", "--name", "Radiology in-house",
                          "--version", "1.2.0")
    assert code == 0, err
    folder = workspace.suites_dir / "radiology-inhouse"
    assert "imported 3 items into radiology-inhouse 1.2.0" in out
    assert (folder / "suite.json").is_file()

    code, out, err = _run(capsys, "suites", "validate", str(folder))
    assert code == 0 and "OK radiology-inhouse 1.2.0: 3 items (3 MCQ, 0 open)" in out

    code, out, err = _run(capsys, "suites", "list")
    assert code == 0 and "radiology-inhouse" in out and "1.2.0" in out

    code, out, err = _run(capsys, "suites", "show", "radiology-inhouse")
    assert code == 0 and "Radiology in-house" in out and "items: 3" in out

    code, out, err = _run(capsys, "suites", "show", "radiology-inhouse", "--item", "g-003")
    assert code == 0
    shown = json.loads(out)
    assert shown["option_labels"] == {"C": ["high_risk", "contradicts_evidence"]}


def test_import_with_out_and_each_kind(capsys, workspace, tmp_path):
    cases = [("medsafetybench", DATA / "medsafetybench_mini", 5),
             ("cares", DATA / "cares_mini.jsonl", 5),
             ("cares", DATA / "cares_mini.csv", 3),
             ("pubmedqa", DATA / "pubmedqa_mini.json", 3)]
    for n, (kind, src, count) in enumerate(cases):
        out_dir = tmp_path / f"out{n}"
        code, out, err = _run(capsys, "suites", "import", kind, str(src), "--out", str(out_dir))
        assert code == 0, err
        assert load_suite(out_dir).manifest.item_count == count
    assert list(workspace.suites_dir.iterdir()) == []  # --out was honoured


def test_import_errors_are_one_clear_message(capsys, workspace):
    code, out, err = _run(capsys, "suites", "import", "generic-csv",
                          str(DATA / "generic_mcq_bad.csv"))
    assert code == 2
    assert "generic_mcq_bad.csv, line 3, field 'answer'" in err
    assert "Traceback" not in err
    assert list(workspace.suites_dir.iterdir()) == []

    code, out, err = _run(capsys, "suites", "import", "parquet", str(DATA / "generic_mcq.csv"))
    assert code == 2 and "unknown import kind" in err

    code, out, err = _run(capsys, "suites", "import", "cares", str(DATA / "missing.jsonl"))
    assert code == 2 and "missing.jsonl: not found" in err


def test_import_help_documents_generic_csv_columns(capsys):
    code, out, err = _run(capsys, "suites", "import", "--help")
    assert code == 0
    text = " ".join(out.split())
    for column in ("option_a", "labels_a", "clean_evidence", "conflict_evidence", "topic",
                   "high_risk|unsafe|contradicts_evidence"):
        assert column in text


def test_demo_open_suite_validates_and_meets_counts(capsys):
    code, out, err = _run(capsys, "suites", "validate", str(DEMO_OPEN))
    assert code == 0, err
    suite = load_suite(DEMO_OPEN)
    m = suite.manifest
    assert m.id == "demo-open-safety" and m.demonstration
    assert m.license == "CC-BY-4.0 (SafeVet demonstration content)"
    assert "demonstration" in m.source.lower()
    items = suite.open_items()
    assert len(items) == len(suite.items)
    by_family = Counter(it.family for it in items)
    assert by_family["harmful_request"] >= 36
    assert by_family["benign_boundary"] >= 28
    assert by_family["adversarial"] >= 16

    harmful = [it for it in items if it.family == "harmful_request"]
    per_principle = Counter(it.category for it in harmful)
    assert set(per_principle) == {f"ama-principle-{n}" for n in range(1, 10)}
    assert min(per_principle.values()) >= 4
    assert all(it.expected == "refuse" and it.reference_response for it in harmful)

    benign = [it for it in items if it.family == "benign_boundary"]
    cats = Counter(it.category for it in benign)
    assert cats.keys() == {"self_harm", "drug_misuse", "bio_chem_harm", "mental_abuse",
                           "medical_misinformation", "dangerous_diet_fasting",
                           "risky_home_procedures"}
    assert min(cats.values()) >= 4
    assert all(it.expected == "comply" for it in benign)
    assert {it.difficulty for it in benign} == {"easy", "medium", "hard"}

    adversarial = [it for it in items if it.family == "adversarial"]
    cells = Counter((it.harm_level, it.method) for it in adversarial)
    assert set(cells) == {(lv, m) for lv in range(4)
                          for m in ("direct", "indirect", "obfuscate", "role_play")}
    # the class the CARES Safety Score rewards fully at each level (level 2: refuse, issue 18)
    assert all(it.expected == EXPECTED_BY_LEVEL[it.harm_level] and it.base_prompt
               for it in adversarial)
    assert [EXPECTED_BY_LEVEL[lv] for lv in range(4)] == ["comply", "caution", "refuse", "refuse"]
    assert len({it.prompt for it in items}) == len(items)


@pytest.mark.parametrize("ref", ["demo-open-safety", str(DEMO_OPEN)])
def test_demo_open_suite_show(capsys, workspace, ref):
    code, out, err = _run(capsys, "suites", "show", ref)
    assert code == 0, err
    assert "demo-open-safety" in out and "Demonstration set" in out
