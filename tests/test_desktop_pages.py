"""Desktop Models, Suites & corpora and Review pages against real engine work:
a real ONNX export, real importers, a real Chroma corpus, real stewardship records."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from engine.runs.executor import create_run, execute_run
from engine.suites.registry import resolve_suite
from tests.test_desktop_support import LONG, SUITE_ID, close_window, desk_ws, window  # noqa: F401
from tests.test_desktop_support import error_dialogs, wait_task

DATA = Path(__file__).parent / "data"


def _wait(qtbot, task) -> None:
    wait_task(qtbot, task)


def _dialog_text(qtbot) -> str:
    qtbot.waitUntil(lambda: bool(error_dialogs()), timeout=LONG)
    box = error_dialogs()[0]
    text = box.text()
    box.accept()
    return text


def _click_box(qtbot, box) -> None:
    """Click a checkbox the way a user does, once it is on screen: boxes built for a newly
    selected item are shown only when their layout next runs, and a click before that
    lands on nothing."""
    qtbot.waitUntil(lambda: box.isVisible() and box.isEnabled(), timeout=LONG)
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)


def _rows(table, col: int = 0) -> list[str]:
    return [table.item(r, col).text() for r in range(table.rowCount())]


# -- Models --------------------------------------------------------------------
def test_models_page_import_verify_detect_tamper_remove(window, qtbot, tiny_model_store):
    win, ws, name = window
    page = win.pages["models"]
    assert _rows(page.table) == [name]
    assert page.table.item(0, 1).text() == "fp32"
    assert page.table.item(0, 6).text() == win.ctx.provider_name()

    # a bad name is refused by the engine, shown in a dialog, nothing registered
    _wait(qtbot, page.start_import(str(tiny_model_store.hf_folders["chatml"]), "bad name!"))
    assert "invalid model name" in _dialog_text(qtbot)
    assert _rows(page.table) == [name]

    # import from a Hugging Face folder: the real optimum export, with progress
    _wait(qtbot, page.start_import(str(tiny_model_store.hf_folders["chatml"]), "imported-tiny"))
    assert sorted(_rows(page.table)) == sorted([name, "imported-tiny"])
    row = _rows(page.table).index("imported-tiny")
    assert page.table.item(row, 7).text() == "verified at import"
    assert "imported-tiny" in [win.pages["run"].models_list.item(i).text()
                               for i in range(win.pages["run"].models_list.count())]

    # verify re-hashes; a changed file is caught and named
    page.table.selectRow(row)
    _wait(qtbot, page.verify_selected())
    row = _rows(page.table).index("imported-tiny")
    assert page.table.item(row, 7).text().startswith("verified (")
    with open(ws.models_dir / "imported-tiny" / "config.json", "a") as fh:
        fh.write(" ")
    page.table.selectRow(row)
    _wait(qtbot, page.verify_selected())
    assert "config.json has changed or is truncated" in _dialog_text(qtbot)
    row = _rows(page.table).index("imported-tiny")
    assert page.table.item(row, 7).text().startswith("FAILED")

    _wait(qtbot, page.remove("imported-tiny"))
    assert _rows(page.table) == [name]
    assert not (ws.models_dir / "imported-tiny").exists()


# -- Suites and corpora --------------------------------------------------------------
def test_suites_page_imports_browses_and_refuses_bad_input(window, qtbot):
    win, ws, name = window
    page = win.pages["suites"]
    win.show_page("suites")
    assert SUITE_ID in _rows(page.suites_table)

    # an MCQ item shows its question, options, key, labels and both evidence passages
    page.suites_table.selectRow(_rows(page.suites_table).index(SUITE_ID))
    assert page.items_table.rowCount() == 40
    page.items_table.selectRow(1)
    html = page.item_view.toHtml()
    for text in ("Which finding 1 is expected?", "key", "high-risk", "unsafe",
                 "Clean evidence", "Evidence supports answer B.", "Conflict evidence"):
        assert text in html, text

    # import with the CARES importer: listed, browsable, written to the workspace
    _wait(qtbot, page.start_import("cares", str(DATA / "cares_mini.jsonl"), suite_id="cares-mini"))
    assert "cares-mini" in _rows(page.suites_table)
    page.suites_table.selectRow(_rows(page.suites_table).index("cares-mini"))
    assert page.items_table.rowCount() >= 3
    assert "Attack method" in page.item_view.toHtml()
    assert (ws.suites_dir / "cares-mini" / "suite.json").is_file()

    # a bad file: the engine names line and field; nothing half-imported is left
    _wait(qtbot, page.start_import("cares", str(DATA / "cares_bad.jsonl"), suite_id="cares-bad"))
    text = _dialog_text(qtbot)
    assert "cares_bad.jsonl" in text and "line" in text and "Traceback" not in text
    assert not (ws.suites_dir / "cares-bad").exists()
    assert "cares-bad" not in _rows(page.suites_table)


def test_corpus_ingest_with_progress(window, qtbot, tmp_path, embedder_folder):
    from tests.fixtures.retrieval import link_embedder

    win, ws, name = window
    link_embedder(ws, embedder_folder)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pneumothorax.md").write_text(
        "# Tension pneumothorax\n\nTension pneumothorax is a clinical diagnosis; decompress "
        "immediately without waiting for imaging.\n")
    (docs / "contrast.md").write_text(
        "# Contrast and metformin\n\nWith eGFR above 30 metformin need not be stopped before "
        "iodinated contrast.\n")
    page = win.pages["suites"]
    seen: list[int] = []
    task = page.start_ingest("ward-notes", [docs])
    task.signals.progress.connect(lambda ev: seen.append(ev.done or 0))
    _wait(qtbot, task)
    assert not error_dialogs()
    assert page.tabs.currentIndex() == 1
    assert _rows(page.corpora_table) == ["ward-notes"]
    assert page.corpora_table.item(0, 1).text() == "2"
    assert sorted(_rows(page.docs_table)) == ["contrast.md", "pneumothorax.md"]
    assert "2 added" in page.progress.label.text()
    # the Run page now offers it for the retrieval conditions
    run = win.pages["run"]
    assert run.corpus.findData("ward-notes") > 0


# -- Review --------------------------------------------------------------------------
def test_review_page_queue_decisions_two_person_rule_and_new_version(window, qtbot):
    win, ws, name = window
    ctx = win.ctx
    run_id = create_run(ctx.ws, ctx.store, models=[name], suites=[SUITE_ID],
                        conditions=["closed_book", "clean_evidence"], profile="smoke",
                        overrides={"item_limit": None})
    assert execute_run(ctx.ws, ctx.store, run_id).status == "completed"
    ctx.notify_runs()

    win.show_page("review")
    page = win.pages["review"]
    page.select_suite(SUITE_ID)
    qtbot.waitUntil(lambda: page.queue_table.rowCount() > 0 and ctx.runner.active == 0,
                    timeout=LONG)
    page.queue_table.selectRow(0)
    item_id = page.queue_table.item(0, 1).text()
    assert page.view is not None and page.view.item["id"] == item_id
    assert "Stored answers" in page.item_browser.toHtml()
    assert len(page.view.answers) == 2        # one model × two conditions

    # no rationale: refused with the engine's message
    page.reviewer.setText("Dr One")
    page.role.setText("radiologist")
    page.decision.setCurrentIndex(page.decision.findData("keep"))
    page.rationale.clear()
    _wait(qtbot, page.record_decision())
    assert "rationale" in _dialog_text(qtbot)
    assert page.pending_table.rowCount() == 0

    # a key change needs a second, different reviewer
    item = resolve_suite(ws, SUITE_ID).item(item_id)
    unlabelled = next(x for x in item.options if x != item.answer and not item.labels_of(x))
    page.decision.setCurrentIndex(page.decision.findData("change_key"))
    page.change.key_picker.setCurrentIndex(page.change.key_picker.findData(unlabelled))
    page.rationale.setPlainText("Guideline says so (test).")
    qtbot.mouseClick(page.decide_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.pending_table.rowCount() == 1, timeout=LONG)
    assert page.pending_table.item(0, 5).text() == "proposed"

    page.pending_table.selectRow(0)
    page.rationale.setPlainText("I agree with myself.")
    _wait(qtbot, page.second_review(confirm=True))
    assert "Traceback" not in _dialog_text(qtbot)
    assert page.pending_table.item(0, 5).text() == "proposed"

    page.reviewer.setText("Dr Two")
    page.pending_table.selectRow(0)
    page.rationale.setPlainText("Checked against the source; agree.")
    _wait(qtbot, page.second_review(confirm=True))
    assert page.pending_table.item(0, 5).text() == "confirmed"

    _wait(qtbot, page.apply_decisions())
    assert not error_dialogs()
    new = resolve_suite(ws, f"{SUITE_ID}@1.1.0")
    assert new.item(item_id).answer == unlabelled
    assert page.impact_table.rowCount() > 0
    assert "1.0.0 → 1.1.0" in page.impact_label.text()
    assert ctx.store.verify_audit_log() == []


def test_review_key_change_with_picker_and_label_checkboxes(qtbot, workspace):
    """The wrong-key item of the stewardship data: pick the new key, tick labels, no JSON."""
    from desktop.app import create_window
    from engine.stewardship.review import get_decision
    from tests.test_stewardship_data import SUITE_ID as STEW_SUITE
    from tests.test_stewardship_data import build

    store, _ = build(workspace)
    store.close()
    win = create_window(str(workspace.home))
    win.show()
    try:
        win.show_page("review")
        page = win.pages["review"]
        page.select_suite(STEW_SUITE)
        qtbot.waitUntil(lambda: page.queue_table.rowCount() > 0 and win.ctx.runner.active == 0,
                        timeout=LONG)
        assert page.queue_table.item(0, 1).text() == "q2"
        assert "Position bias discounted" in page.queue_note.text()
        assert "dominant position" in page.queue_note.toolTip()
        page.queue_table.selectRow(0)
        assert "score 1.00: models agree on another answer than the key" in \
            page.item_browser.toPlainText()

        page.decision.setCurrentIndex(page.decision.findData("change_key"))
        editor = page.change
        assert not hasattr(page, "payload")                      # no JSON field any more
        assert editor.key_picker.isVisibleTo(page) and editor.labels_box.isVisibleTo(page)
        assert [editor.key_picker.itemData(i) for i in range(editor.key_picker.count())] == \
            ["A", "C", "D"]                                      # the item's key B left out
        # q2's D carries high_risk + unsafe; C (the right answer) carries nothing
        assert editor.boxes[("D", "high_risk")].isChecked()
        editor.key_picker.setCurrentIndex(editor.key_picker.findData("C"))
        assert not editor.boxes[("C", "unsafe")].isEnabled()    # a key carries no label
        _click_box(qtbot, editor.boxes[("B", "unsafe")])
        _click_box(qtbot, editor.boxes[("D", "unsafe")])
        assert editor.boxes[("B", "unsafe")].isChecked()
        assert not editor.boxes[("D", "unsafe")].isChecked()
        page.reviewer.setText("Dr One")
        page.role.setText("radiologist")
        page.rationale.setPlainText("Guideline supports the third option (test).")
        qtbot.mouseClick(page.decide_btn, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.pending_table.rowCount() == 1, timeout=LONG)
        review_id = int(page.pending_table.item(0, 0).text())
        d = get_decision(win.ctx.store, review_id)
        assert d.decision == "change_key" and d.status == "proposed"
        assert d.payload == {"answer": "C",
                             "option_labels": {"B": ["unsafe"], "D": ["high_risk"]}}
        assert not error_dialogs()

        # a label-only change from the checkboxes alone
        page.decision.setCurrentIndex(page.decision.findData("change_labels"))
        page.queue_table.selectRow(0)
        assert not editor.key_picker.isVisibleTo(page)
        assert not editor.boxes[("B", "high_risk")].isEnabled()  # B is still the key
        _click_box(qtbot, editor.boxes[("A", "contradicts_evidence")])
        assert editor.payload() == {"option_labels": {
            "A": ["contradicts_evidence"], "D": ["high_risk", "unsafe"]}}
    finally:
        close_window(qtbot, win)
