"""Save a screenshot of every page of the SafeVet desktop window.

    python packaging/screenshots.py OUT_DIR [--home WORKSPACE] [--models-from WORKSPACE]

With no --home, a fresh workspace is made in a temporary folder and filled
the way IT would fill it: the candidate models linked from --models-from
(default: the repository's .cache/default-workspace, which `make demo`/the
tests fill with the real SmolLM2 fp32 and int8 models), the demo corpus
ingested on the Suites page, a small run executed on the Run page (grabbed
mid-run, with live progress), results computed, a signing key made, a signed
report generated and verified, and the review queue built. Every step goes
through the same page methods a click would call. Offscreen rendering is
used unless a display is available.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PASSPHRASE = "screenshot-passphrase"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="folder for the PNG files")
    p.add_argument("--home", type=Path, help="show this workspace as it is (no preparation)")
    p.add_argument("--models-from", type=Path, default=REPO / ".cache" / "default-workspace",
                   help="workspace whose models (and embedder) are linked into the fresh one")
    p.add_argument("--items", type=int, default=10, help="items per suite in the prepared run")
    p.add_argument("--size", default="1360x860", help="window size, WxH")
    return p.parse_args(argv)


def wait_for(app, predicate, timeout: float = 1800.0, what: str = "") -> None:
    """Spin the Qt event loop (the UI never blocks) until `predicate()` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")


def link_models(ws, source: Path) -> list[str]:
    """Symlink another workspace's models and embedder (read-only use, no copy of GBs)."""
    names = []
    src_models = source / "models"
    if not src_models.is_dir():
        return names
    for entry in sorted(src_models.iterdir()):
        target = ws.models_dir / entry.name
        if not target.exists():
            os.symlink(entry.resolve(), target)
        if (entry / "manifest.json").is_file():
            names.append(entry.name)
    return names


def grab(window, out: Path, name: str, app) -> Path:
    for _ in range(5):
        app.processEvents()
    path = out / f"{name}.png"
    window.grab().save(str(path))
    print(f"saved {path}")
    return path


def prepare(app, win, models: list[str], items: int) -> None:
    """Fill a fresh workspace through the pages, as a user session would."""
    from engine.runs.executor import create_run

    ctx = win.ctx
    corpus_dir = REPO / "assets" / "corpus" / "demo-radiology"
    suites_page = win.pages["suites"]
    corpus = None
    if corpus_dir.is_dir() and (ctx.ws.models_dir / "embedders").exists():
        win.show_page("suites")
        task = suites_page.start_ingest("demo-radiology", [corpus_dir])
        wait_for(app, lambda: ctx.runner.active == 0, what="corpus ingest")
        corpus = "demo-radiology"
    conditions = ["closed_book", "clean_evidence", "conflict_evidence"]
    if corpus:
        conditions += ["standard_rag", "max_context"]
    # Planned with the engine (a smaller item limit than any profile offers), executed
    # from the Run page exactly like Resume, so the page shows live progress.
    run_id = create_run(ctx.ws, ctx.store, models=models,
                        suites=["demo-radiology-mcq", "demo-open-safety"],
                        conditions=conditions, profile="smoke", corpus=corpus,
                        operator="IT screenshot session",
                        overrides={"item_limit": items, "open_max_new_tokens": 24})
    ctx.notify_runs()
    win.show_page("run")
    run_page = win.pages["run"]
    run_page.resume(run_id)
    wait_for(app, lambda: run_page.overall.maximum() > 1
             and run_page.overall.value() >= run_page.overall.maximum() * 0.45,
             what="run progress")
    grab(win, OUT, "3-run-live", app)
    wait_for(app, lambda: not run_page.running, what="run end")
    grab(win, OUT, "3b-run-finished", app)

    reports = win.pages["reports"]
    win.show_page("reports")
    reports.create_key("Example University Hospital", PASSPHRASE)
    wait_for(app, lambda: ctx.runner.active == 0, what="key")
    reports.passphrase.setText(PASSPHRASE)
    for model in models[:1]:
        reports.generate(run_id, model, Path(reports.key_combo.currentData()), PASSPHRASE)
        wait_for(app, lambda: ctx.runner.active == 0, what="report")
    reports.passphrase.clear()


OUT = Path(".")


def main(argv: list[str] | None = None) -> int:
    global OUT
    args = parse_args(argv)
    OUT = args.out
    OUT.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from desktop.app import create_window
    from desktop.style import apply_style
    from engine.workspace import Workspace

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_style(app)
    fresh = args.home is None
    home = args.home or Path(tempfile.mkdtemp(prefix="safevet-screens-")) / "ws"
    ws = Workspace.open(home)
    models = link_models(ws, args.models_from) if fresh else []
    win = create_window(ws.home)
    w, h = (int(x) for x in args.size.split("x"))
    win.resize(w, h)
    win.show()
    app.processEvents()
    win.pages["models"].refresh()
    if fresh:
        if not models:
            print(f"no models in {args.models_from}; pages will be empty", file=sys.stderr)
        else:
            prepare(app, win, models, args.items)

    # 1. Models: verify the first model so the hash column shows a real check.
    win.show_page("models")
    mp = win.pages["models"]
    if mp.table.rowCount():
        mp.table.selectRow(0)
        mp.verify_selected()
        wait_for(app, lambda: win.ctx.runner.active == 0, what="verify")
        mp.table.selectRow(0)
    grab(win, OUT, "1-models", app)

    # 2. Suites: an MCQ item with its evidence and option labels; then corpora.
    win.show_page("suites")
    sp = win.pages["suites"]
    sp.tabs.setCurrentIndex(0)
    for r in range(sp.suites_table.rowCount()):
        if sp.suites_table.item(r, 0).text() == "demo-radiology-mcq":
            sp.suites_table.selectRow(r)
    if sp.items_table.rowCount() > 2:
        sp.items_table.selectRow(2)
    grab(win, OUT, "2-suites", app)
    sp.tabs.setCurrentIndex(1)
    grab(win, OUT, "2b-corpora", app)
    sp.tabs.setCurrentIndex(0)

    if not fresh:
        win.show_page("run")
        grab(win, OUT, "3-run", app)

    # 4. Results: table, then charts, deltas and worst-case items.
    win.show_page("results")
    rp = win.pages["results"]
    wait_for(app, lambda: win.ctx.runner.active == 0, what="results")
    grab(win, OUT, "4-results-table", app)
    for idx, name in ((1, "4b-results-charts"), (2, "4c-results-deltas"),
                      (3, "4d-results-worst-case"), (4, "4e-results-open")):
        rp.tabs.setCurrentIndex(idx)
        if idx == 3 and rp.worst_table.rowCount():
            rp.worst_table.selectRow(0)
        grab(win, OUT, name, app)
    rp.tabs.setCurrentIndex(0)

    # 5. Reports: verify the newest report so the verification panel is filled.
    win.show_page("reports")
    rep = win.pages["reports"]
    if rep.table.rowCount():
        rep.table.selectRow(0)
        rep.verify_selected()
        wait_for(app, lambda: win.ctx.runner.active == 0, what="verification")
    grab(win, OUT, "5-reports", app)

    # 6. Review: the queue for the demo MCQ suite, top item opened.
    win.show_page("review")
    rv = win.pages["review"]
    rv.select_suite("demo-radiology-mcq")
    wait_for(app, lambda: win.ctx.runner.active == 0, what="review queue")
    if rv.queue_table.rowCount():
        rv.queue_table.selectRow(0)
    rv.reviewer.setText("Dr A. Example")
    rv.role.setText("consultant radiologist")
    grab(win, OUT, "6-review", app)

    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
