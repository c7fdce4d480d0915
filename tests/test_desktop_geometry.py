"""A desktop that fits: every page at the window's minimum (1024×680), its default size
(1360×860) and full HD, on a workspace with content (models, a suite, a corpus, a
completed run with retrieval, a signed report).

The key controls of each page must be on screen without scrolling, inside the window and
clear of each other; screenshots of every page go to the test's tmp_path (and to
$SAFEVET_SHOTS_DIR when set, for a person to look at).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QWidget

from desktop.main_window import PAGE_ORDER
from engine.runs.executor import create_run, execute_run
from tests.test_desktop_support import LONG, SUITE_ID, desk_ws, window  # noqa: F401

SIZES = {"min": (1024, 680), "default": (1360, 860), "fullhd": (1920, 1080)}
CORPUS = "ward-notes"
DOCS = {
    "pneumothorax.md": "# Tension pneumothorax\n\nTension pneumothorax is a clinical diagnosis; "
                       "decompress at once without waiting for imaging.",
    "contrast.md": "# Contrast and metformin\n\nWith eGFR above 30 metformin need not be "
                   "stopped before iodinated contrast.",
    "mri.md": "# MRI zones\n\nZone four is the magnet room; metal objects become projectiles.",
}


@pytest.fixture
def styled(qapp):
    """The application's real look (style, palette, font, stylesheet) for this test only:
    sizes depend on padding and font, and later tests expect Qt's defaults back."""
    from desktop.style import apply_style

    saved = (qapp.style().name(), qapp.palette(), qapp.font(), qapp.styleSheet())
    apply_style(qapp)
    yield qapp
    name, palette, font, sheet = saved
    qapp.setStyleSheet(sheet)
    qapp.setStyle(name)
    qapp.setPalette(palette)
    qapp.setFont(font)


def _idle(qtbot, win) -> None:
    qtbot.waitUntil(lambda: not win.ctx.runner.active, timeout=LONG)
    QApplication.processEvents()


@pytest.fixture
def content(styled, window, qtbot, tmp_path, embedder_folder):
    """(window, workspace, model, run id): a corpus, a completed run that searched it and
    a signed report, as a fresh `make demo` workspace has them."""
    from engine.report.demo_support import demo_reports
    from engine.retrieval.chunking import ChunkSettings
    from engine.retrieval.corpus import ingest_corpus
    from tests.fixtures.retrieval import link_embedder

    win, ws, name = window
    ctx = win.ctx
    link_embedder(ws, embedder_folder)
    docs = tmp_path / "docs"
    docs.mkdir()
    for file, text in DOCS.items():
        (docs / file).write_text(text, encoding="utf-8")
    ingest_corpus(ws, [docs], CORPUS, settings=ChunkSettings(chunk_tokens=16, overlap_tokens=2))
    ctx.notify_corpora()
    run_id = create_run(ws, ctx.store, models=[name], suites=[SUITE_ID],
                        conditions=["closed_book", "clean_evidence", "standard_rag"],
                        profile="smoke", corpus=CORPUS, overrides={"item_limit": 12})
    assert execute_run(ws, ctx.store, run_id).status == "completed"
    demo_reports(ws, ctx.store, run_id, say=lambda _: None)
    ctx.notify_runs()
    ctx.notify_reports()
    _idle(qtbot, win)
    return win, ws, name, run_id


def _shot(widget: QWidget, tmp_path: Path, label: str) -> Path:
    out = tmp_path / f"{label}.png"
    assert widget.grab().save(str(out))
    extra = os.environ.get("SAFEVET_SHOTS_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(extra) / out.name)
    return out


def _visit(win, qtbot, key: str) -> QWidget:
    win.show_page(key)
    _idle(qtbot, win)
    return win.pages[key]


def key_controls(win, key: str) -> dict[str, QWidget]:
    """What a user must be able to see and reach on each page without scrolling."""
    p = win.pages[key]
    return {
        "models": lambda: {"import folder": p.import_folder_btn, "import gguf": p.import_gguf_btn,
                           "install default": p.install_default_btn, "verify": p.verify_btn,
                           "remove": p.remove_btn, "table": p.table},
        "suites": lambda: {"import": p.import_btn, "suites": p.suites_table,
                           "items": p.items_table, "item": p.item_view},
        "run": lambda: {"start": p.start_btn, "cancel": p.cancel_btn, "corpus": p.corpus,
                        "profile": p.profile, "models": p.models_list, "suites": p.suites_list},
        "results": lambda: {"run": p.run_combo, "recompute": p.reload_btn, "json": p.json_btn,
                            "csv": p.csv_btn, "raw": p.raw_btn, "table": p.mcq_table},
        "reports": lambda: {"run": p.run_combo, "model": p.model_combo,
                            "generate": p.generate_btn, "verify": p.verify_btn,
                            "open": p.open_btn, "folder": p.folder_btn, "table": p.table,
                            "verification": p.verify_text},
        "review": lambda: {"suite": p.suite_combo, "rebuild": p.queue_btn,
                           "apply": p.apply_btn, "search": p.queue_filter.search,
                           "queue": p.queue_table},
    }[key]()


def _window_rect(w: QWidget, win) -> QRect:
    return QRect(w.mapTo(win, QPoint(0, 0)), w.size())


def clipped_by(w: QWidget, win) -> str | None:
    """The ancestor (a scroll area's viewport, a splitter pane…) that cuts `w` off, if any."""
    rect = _window_rect(w, win)
    parent = w.parentWidget()
    while parent is not None and parent is not win:
        if not _window_rect(parent, win).contains(rect):
            return f"{type(parent).__name__} {parent.objectName()!r}"
        parent = parent.parentWidget()
    return None


def assert_fits(win, key: str, size: str) -> None:
    page = win.pages[key]
    area = _window_rect(win.centralWidget(), win)     # above the status bar
    controls = key_controls(win, key)
    for name, w in controls.items():
        where = f"{key} @ {size}: {name}"
        assert w.isVisible(), f"{where} is not visible"
        assert w.width() > 0 and w.height() > 0, f"{where} has no size"
        assert area.contains(_window_rect(w, win)), \
            f"{where} at {_window_rect(w, win)} is outside the window area {area}"
        cut = clipped_by(w, win)
        assert cut is None, f"{where} is cut off by {cut} (below the fold or squeezed)"
    names = list(controls)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ra, rb = _window_rect(controls[a], win), _window_rect(controls[b], win)
            assert not ra.intersects(rb), f"{key} @ {size}: {a} {ra} overlaps {b} {rb}"
    # No button anywhere on the page is squeezed below the width its text needs, or
    # sits on top of another one.
    from PySide6.QtWidgets import QPushButton
    buttons = [b for b in page.findChildren(QPushButton) if b.isVisible()]
    for b in buttons:
        assert b.width() >= b.minimumSizeHint().width(), \
            f"{key} @ {size}: button {b.text()!r} is cut ({b.width()} < " \
            f"{b.minimumSizeHint().width()} px)"
    for i, a in enumerate(buttons):
        for b in buttons[i + 1:]:
            if a.parentWidget() is b.parentWidget():
                assert not a.geometry().intersects(b.geometry()), \
                    f"{key} @ {size}: {a.text()!r} overlaps {b.text()!r}"


# -- every page at every size --------------------------------------------------------
def test_every_page_fits_at_minimum_default_and_full_hd(content, qtbot, tmp_path):
    win, ws, name, run_id = content
    for size, (w, h) in SIZES.items():
        win.resize(w, h)
        _idle(qtbot, win)
        assert (win.width(), win.height()) == (w, h), \
            f"the window cannot be {w}×{h}: its contents force {win.width()}×{win.height()}"
        for key in PAGE_ORDER:
            _visit(win, qtbot, key)
            _shot(win, tmp_path, f"{key}-{size}")
            assert_fits(win, key, size)
    assert len(list(tmp_path.glob("*.png"))) == len(SIZES) * len(PAGE_ORDER)


# -- sorting -------------------------------------------------------------------------
def test_sort_keys_order_numbers_as_numbers():
    from desktop.widgets.tables import sort_key

    assert sort_key("9.0% [1–20]") < sort_key("12.5% [8–17]") < sort_key("100.0% [98–100]")
    assert sort_key("512.0 KB") < sort_key("1.2 MB") < sort_key("2.0 GB")
    assert sort_key("-4.0 pts  [-9.5, +1.5]") < sort_key("+0.5 pts")
    assert sort_key("1,024") == 1024.0 and sort_key(7) == 7.0
    assert sort_key("–") is None and sort_key(None) is None
    assert sort_key("q010") == "q010"          # ids sort as text
    assert sort_key("2026-05-01 12:00") == "2026-05-01 12:00"


def test_every_table_sorts_and_numbers_sort_numerically(content, qtbot):
    from PySide6.QtWidgets import QTableWidget

    from desktop.widgets.tables import SORT_ROLE

    win, ws, name, run_id = content
    tables = [t for page in win.pages.values() for t in page.findChildren(QTableWidget)]
    assert len(tables) >= 12
    unsorted = [t for t in tables if not t.isSortingEnabled()]
    assert not unsorted, f"{len(unsorted)} tables cannot be sorted"

    page = _visit(win, qtbot, "results")
    qtbot.waitUntil(lambda: page.metrics is not None, timeout=LONG)
    t = page.mcq_table
    natural = [t.item(r, 2).text() for r in range(t.rowCount())]
    assert natural == ["Closed-book", "Clean evidence", "Standard RAG"]  # the engine's order
    # a click on the Accuracy header sorts by the number, not the text
    header = t.horizontalHeader()
    x = header.sectionViewportPosition(4) + header.sectionSize(4) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    keys = [t.item(r, 4).data(SORT_ROLE) for r in range(t.rowCount())]
    assert all(isinstance(k, float) for k in keys) and keys == sorted(keys)
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    keys = [t.item(r, 4).data(SORT_ROLE) for r in range(t.rowCount())]
    assert keys == sorted(keys, reverse=True)

    # a refill keeps the user's sort, and keys stay with their rows
    page.load_selected()
    qtbot.waitUntil(lambda: page.metrics is not None and t.rowCount() == 3, timeout=LONG)
    _idle(qtbot, win)
    keys = [t.item(r, 4).data(SORT_ROLE) for r in range(t.rowCount())]
    assert keys == sorted(keys, reverse=True)


# -- thresholds, filters and the per-call view ------------------------------------------
def test_results_thresholds_filters_and_call_view(content, qtbot, tmp_path):
    from engine.report.thresholds import Verdict, evaluate, load_thresholds

    win, ws, name, run_id = content
    win.resize(*SIZES["min"])
    page = _visit(win, qtbot, "results")
    qtbot.waitUntil(lambda: page.metrics is not None and bool(page.calls_view.details),
                    timeout=LONG)

    # one PASS/FAIL column per threshold, the verdicts of the report's own rule
    t = page.mcq_table
    from desktop.pages.results import MCQ_COLUMNS
    first = len(MCQ_COLUMNS)
    assert t.columnCount() == first + len(page.thresholds.mcq_keys) >= first + 3
    expected = {(r.condition, r.key): r.verdict.value
                for r in evaluate(page.metrics, name, load_thresholds())
                if r.area == "mcq"}
    from engine.conditions import registry
    cells = sorted(page.metrics.mcq,
                   key=lambda c: (c.model, c.suite_id, registry.order(c.condition)))
    seen = 0
    for r, cell in enumerate(cells):      # the engine's row order: nothing sorted yet
        assert t.item(r, 2).text() == registry.label(cell.condition, "desktop")
        for i, key in enumerate(page.thresholds.mcq_keys):
            text = t.item(r, first + i).text()
            assert text in {v.value for v in Verdict} | {"–"}
            if (cell.condition, key) in expected:
                assert text == expected[(cell.condition, key)], (cell.condition, key)
                seen += 1
    assert seen >= 6

    # the per-call table: every stored call, searchable and filterable
    calls = win.ctx.store.calls(run_id)
    view = page.calls_view
    page.tabs.setCurrentWidget(view)
    assert view.table.rowCount() == len(calls) > 0
    view.filter.search.setText("q003")
    shown = view.filter.visible_rows()
    assert shown and all(view.table.item(r, 3).text() == "q003" for r in shown)
    view.filter.search.clear()
    view.filter.set_switch("failure", True)
    failed = view.filter.visible_rows()
    assert failed and all(view.table.item(r, 7).text() != "correct" for r in failed)
    assert len(failed) < len(calls)
    view.filter.set_switch("high_risk", True)
    risky = view.filter.visible_rows()
    assert set(risky) <= set(failed)
    assert all(view.table.item(r, 7).text() == "wrong (high-risk)" for r in risky)
    assert "of" in view.filter.count.text()
    _shot(win, tmp_path, "results-calls-filtered-min")
    view.filter.set_switch("failure", False)
    view.filter.set_switch("high_risk", False)
    assert len(view.filter.visible_rows()) == len(calls)

    # a judge's verdict recorded on a retrieval call shows in the call's view
    rag = next(c for c in calls if c.condition == "standard_rag" and not c.variant)
    win.ctx.store.record_judgment(rag.id, "rule", "comply", score=0.5, reasons="test verdict")
    view.load(run_id)
    qtbot.waitUntil(lambda: len(view.details) == len(calls), timeout=LONG)
    row = next(r for r in range(view.table.rowCount())
               if view.detail_at(r).call.id == rag.id)
    view.table.selectRow(row)
    qtbot.keyClick(view.table, Qt.Key.Key_Return)
    dlg = view.dialog
    assert dlg is not None and dlg.isVisible()
    assert win.frameGeometry().contains(dlg.frameGeometry().center())
    assert dlg.width() <= win.width() and dlg.height() <= win.height()
    shown = dlg.view
    shown.tabs.setCurrentIndex(1)
    _shot(dlg, tmp_path, "call-dialog-retrieved-min")
    assert shown.prompt_text.toPlainText() == rag.prompt_text
    chunks = (rag.context or {}).get("chunks") or []
    assert chunks and shown.chunks_table.rowCount() == len(chunks)
    assert shown.chunks_table.item(0, 1).text() == str(chunks[0]["id"])
    assert shown.evidence_text.toPlainText() == (rag.context or {}).get("evidence_text")
    assert shown.probs_table.rowCount() == len(rag.option_probs)
    chosen = [shown.probs_table.item(r, 0).text() for r in range(shown.probs_table.rowCount())
              if shown.probs_table.item(r, 3).text() == "✓"]
    assert chosen == [rag.chosen]
    assert shown.judges_table.rowCount() == 1
    assert shown.judges_table.item(0, 1).text() == "comply"
    assert "test verdict" in shown.judges_table.item(0, 4).text()
    # the other conditions' calls of the same item are one click away
    assert dlg.calls_list.count() == len([c for c in calls if c.item_id == rag.item_id])
    dlg.close()

    # a worst-case item opens every stored answer to it; its filters work the same way
    page.tabs.setCurrentIndex(3)
    worst = page.worst_table
    if worst.rowCount():
        page.worst_filter.set_switch("high_risk", True)
        assert all(int(worst.item(r, 3).text()) > 0 for r in page.worst_filter.visible_rows())
        page.worst_filter.set_switch("high_risk", False)
        worst.selectRow(0)
        item_id = worst.item(0, 0).text()
        dlg = page.open_worst_calls()
        assert dlg is not None
        assert {d.call.item_id for d in dlg.details} == {item_id}
        dlg.close()


def test_review_queue_search_and_filters(content, qtbot):
    win, ws, name, run_id = content
    page = _visit(win, qtbot, "review")
    page.select_suite(SUITE_ID)
    qtbot.waitUntil(lambda: page.queue_table.rowCount() > 0 and not win.ctx.runner.active,
                    timeout=LONG)
    _idle(qtbot, win)
    f, t = page.queue_filter, page.queue_table
    total = t.rowCount()
    target = t.item(1, 1).text()
    f.search.setText(target)
    assert [t.item(r, 1).text() for r in f.visible_rows()] == [target]
    f.search.clear()
    f.set_switch("failure", True)
    contested = {e.item_id for e in page.queue if e.signals}
    assert {t.item(r, 1).text() for r in f.visible_rows()} == contested
    f.set_switch("failure", False)
    f.set_switch("high_risk", True)      # every desk-mcq item has a high-risk option
    assert len(f.visible_rows()) == total
    f.set_switch("high_risk", False)
    # sorting the queue moves rows; the filter follows them
    t.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    f.search.setText(target)
    assert [t.item(r, 1).text() for r in f.visible_rows()] == [target]


# -- the Run page's states -------------------------------------------------------------
def test_run_page_idle_finished_and_corpus_default(content, qtbot):
    win, ws, name, run_id = content
    page = _visit(win, qtbot, "run")
    assert page.overall.text() == "no run"
    assert page.corpus.currentData() == CORPUS         # the workspace has one: offered
    page.select(models=[name], suites=[SUITE_ID], conditions=["closed_book"], profile="smoke")
    qtbot.mouseClick(page.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.last_outcome is not None and not page.running, timeout=LONG)
    assert page.last_outcome.status == "completed"
    assert page.overall.text() == "4 / 4 calls (100%)"
    assert page.status.text().startswith("Completed:")
    assert page.current.text() == ""
    _idle(qtbot, win)                                  # the pages that refresh for it
    assert win.busy_label.text() == ""                 # nothing says "Working…" any more
    # a choice of "none" by the user is kept when the corpora list refreshes
    page.corpus.setCurrentIndex(0)
    page.corpus.activated.emit(0)
    win.ctx.notify_corpora()
    assert page.corpus.currentData() is None


def test_busy_label_names_the_work(content, qtbot):
    win, ws, name, run_id = content
    page = _visit(win, qtbot, "results")
    task = page.calls_view.load(run_id)
    assert win.busy_label.text().startswith("Working: ")
    qtbot.waitUntil(lambda: task.completed, timeout=LONG)
    _idle(qtbot, win)
    assert win.busy_label.text() == ""


# -- dark mode ---------------------------------------------------------------------------
def test_dark_os_palette_gives_dark_pages(content, qtbot, tmp_path):
    from PySide6.QtGui import QPalette

    from desktop.style import DARK, LIGHT, apply_style, stylesheet, theme
    from desktop.widgets.item_view import item_html
    from engine.suites.registry import resolve_suite

    win, ws, name, run_id = content
    app = QApplication.instance()
    assert apply_style(app, dark=True) is DARK and theme() is DARK
    assert app.palette().color(QPalette.ColorRole.Base).lightness() < 80
    assert app.palette().color(QPalette.ColorRole.Text).lightness() > 180
    sheet = stylesheet(DARK)
    for light in (LIGHT.panel, LIGHT.window, LIGHT.chrome, "white", "#fff;"):
        assert f"background: {light}" not in sheet
    html = item_html(resolve_suite(ws, SUITE_ID).items[0])
    assert DARK.tint_ok in html and LIGHT.tint_ok not in html
    win.resize(*SIZES["default"])
    for key in ("results", "review"):
        page = _visit(win, qtbot, key)
        img = win.grab().toImage()
        _shot(win, tmp_path, f"{key}-dark")
        table = page.mcq_table if key == "results" else page.queue_table
        spot = table.viewport().mapTo(win, QPoint(table.viewport().width() - 5,
                                                  table.viewport().height() - 5))
        assert img.pixelColor(spot).lightness() < 100, f"{key}: table background is light"
        spot = page.mapTo(win, QPoint(5, page.height() // 2))
        assert img.pixelColor(spot).lightness() < 100, f"{key}: page background is light"
