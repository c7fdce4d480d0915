"""Suites and corpora page: what will be asked, and what retrieval can draw on.

IT imports public or in-house benchmarks with the engine's importers (all or
nothing: a bad row is named and nothing is left behind), browses each item
with its evidence and option safety labels, and ingests documents into a
local Chroma corpus for the retrieval conditions.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLineEdit, QPushButton, QSplitter,
                               QTabWidget, QTextBrowser, QVBoxLayout, QWidget)

from desktop.context import AppContext
from desktop.widgets.common import (ProgressLine, fill_table, make_table, muted_label,
                                    page_header, selected_key, show_error)
from desktop.widgets.elided import ElidedLabel
from desktop.widgets.item_view import item_html


class ImportSuiteDialog(QDialog):
    """Kind (one of the engine's importers), source and optional id/name/version."""

    def __init__(self, parent: QWidget | None = None) -> None:
        from engine.suites.importers import IMPORTERS

        super().__init__(parent)
        self.setWindowTitle("Import a suite")
        form = QFormLayout(self)
        self.kind = QComboBox()
        for kind, imp in IMPORTERS.items():
            self.kind.addItem(kind, kind)
            self.kind.setItemData(self.kind.count() - 1, imp.summary, Qt.ItemDataRole.ToolTipRole)
        self.summary = muted_label("")
        self.kind.currentIndexChanged.connect(
            lambda _: self.summary.setText(IMPORTERS[self.kind.currentData()].summary))
        self.summary.setText(IMPORTERS[self.kind.currentData()].summary)
        form.addRow("Format:", self.kind)
        form.addRow("", self.summary)
        self.source = QLineEdit()
        file_btn = QPushButton("File…")
        folder_btn = QPushButton("Folder…")
        file_btn.clicked.connect(self._browse_file)
        folder_btn.clicked.connect(self._browse_folder)
        row = QHBoxLayout()
        row.addWidget(self.source, 1)
        row.addWidget(file_btn)
        row.addWidget(folder_btn)
        form.addRow("Source:", row)
        self.suite_id = QLineEdit()
        self.suite_id.setPlaceholderText("default: from the file name")
        form.addRow("Suite id:", self.suite_id)
        self.name = QLineEdit()
        form.addRow("Name:", self.name)
        self.version = QLineEdit("1.0.0")
        form.addRow("Version:", self.version)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(620, 260)

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Source file", "",
                                              "Data (*.csv *.json *.jsonl);;All files (*)")
        if path:
            self.source.setText(path)

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Source folder")
        if path:
            self.source.setText(path)


class IngestDialog(QDialog):
    """Corpus name and the documents (files or a folder) to chunk and embed."""

    def __init__(self, parent: QWidget | None = None, name: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Ingest documents into a corpus")
        form = QFormLayout(self)
        self.name = QLineEdit(name)
        self.name.setPlaceholderText("new or existing corpus name")
        form.addRow("Corpus:", self.name)
        self.paths = QLineEdit()
        self.paths.setPlaceholderText("files or a folder of .txt / .md documents")
        files_btn = QPushButton("Files…")
        folder_btn = QPushButton("Folder…")
        files_btn.clicked.connect(self._browse_files)
        folder_btn.clicked.connect(self._browse_folder)
        row = QHBoxLayout()
        row.addWidget(self.paths, 1)
        row.addWidget(files_btn)
        row.addWidget(folder_btn)
        form.addRow("Documents:", row)
        form.addRow("", muted_label("Embedded locally by the ONNX sentence-embedding model; "
                                    "unchanged documents are skipped."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(620, 180)

    def _browse_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Documents", "",
                                                "Text (*.txt *.md);;All files (*)")
        if paths:
            self.paths.setText(";".join(paths))

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of documents")
        if path:
            self.paths.setText(path)

    def path_list(self) -> list[Path]:
        return [Path(p.strip()) for p in self.paths.text().split(";") if p.strip()]


class SuitesPage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self._suites: dict[str, object] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 12)
        lay.addWidget(page_header(
            "Suites and corpora",
            "Suites are versioned sets of items with hashes; corpora are local document "
            "collections the retrieval conditions search."))
        self.tabs = QTabWidget()
        lay.addWidget(self.tabs, 1)
        self.tabs.addTab(self._build_suites_tab(), "Suites")
        self.tabs.addTab(self._build_corpora_tab(), "Corpora")
        self.progress = ProgressLine()
        lay.addWidget(self.progress)
        ctx.suites_changed.connect(self.refresh)
        ctx.corpora_changed.connect(self.refresh_corpora)
        self.refresh()

    # -- suites -------------------------------------------------------------
    def _build_suites_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        buttons = QHBoxLayout()
        self.import_btn = QPushButton("Import suite…")
        self.import_btn.setObjectName("primary")
        self.import_btn.clicked.connect(self.import_suite_dialog)
        buttons.addWidget(self.import_btn)
        buttons.addSpacing(12)
        # Elided: a suite's name, licence and hash are longer than a narrow window.
        self.suite_info = ElidedLabel("", mode=Qt.TextElideMode.ElideRight)
        self.suite_info.setObjectName("muted")
        buttons.addWidget(self.suite_info, 1)
        lay.addLayout(buttons)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.suites_table = make_table(("Suite", "Version", "Items", "MCQ", "Open", "Status"),
                                       stretch=5)
        self.items_table = make_table(("Item", "Kind", "Topic"), stretch=2)
        self.item_view = QTextBrowser()
        self.item_view.setOpenExternalLinks(False)
        split.addWidget(self.suites_table)
        split.addWidget(self.items_table)
        split.addWidget(self.item_view)
        split.setSizes([420, 300, 560])
        split.setChildrenCollapsible(False)
        self.item_view.setMinimumWidth(240)   # the item itself never becomes a sliver
        lay.addWidget(split, 1)
        self.suites_table.itemSelectionChanged.connect(self._show_items)
        self.items_table.itemSelectionChanged.connect(self._show_item)
        return w

    def refresh(self) -> None:
        from engine.suites.registry import list_suites

        entries = list_suites(self.ctx.ws)
        rows, keys = [], []
        self._suites = {}
        for folder, suite, error in entries:
            if suite is None:
                rows.append((folder.name, "?", "?", "?", "?", f"cannot load: {error}"))
                keys.append(None)
                continue
            key = f"{suite.id}@{suite.version}"
            self._suites[key] = suite
            status = "demonstration set" if suite.manifest.demonstration else "ok"
            if str(folder).startswith(str(self.ctx.ws.suites_dir)):
                status += " · imported"
            else:
                status += " · bundled"
            rows.append((suite.id, suite.version, len(suite.items), len(suite.mcq_items()),
                         len(suite.open_items()), status))
            keys.append(key)
        current = selected_key(self.suites_table)
        fill_table(self.suites_table, rows, keys=keys)
        row = keys.index(current) if current in keys else (0 if keys else -1)
        if row >= 0:
            self.suites_table.selectRow(row)
        self.refresh_corpora()

    def _show_items(self) -> None:
        suite = self._suites.get(selected_key(self.suites_table))
        if suite is None:
            fill_table(self.items_table, [])
            self.item_view.clear()
            return
        m = suite.manifest
        self.suite_info.setText(f"{m.name} · license {m.license} · sha256 {m.items_sha256[:16]}…")
        rows = [(it.id, it.kind, getattr(it, "topic", "") or
                 f"{getattr(it, 'family', '')} / {getattr(it, 'category', '')}")
                for it in suite.items]
        fill_table(self.items_table, rows, keys=[it.id for it in suite.items])
        if rows:
            self.items_table.selectRow(0)

    def _show_item(self) -> None:
        suite = self._suites.get(selected_key(self.suites_table))
        item_id = selected_key(self.items_table)
        if suite is None or item_id is None:
            return
        try:
            self.item_view.setHtml(item_html(suite.item(item_id)))
        except KeyError:  # a selection left over from another suite
            self.item_view.clear()

    def import_suite_dialog(self) -> None:
        dlg = ImportSuiteDialog(self)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        self.start_import(dlg.kind.currentData(), dlg.source.text().strip(),
                          dlg.suite_id.text().strip() or None, dlg.name.text().strip() or None,
                          dlg.version.text().strip() or "1.0.0")

    def start_import(self, kind: str, source: str, suite_id: str | None = None,
                     name: str | None = None, version: str = "1.0.0"):
        from engine.suites.importers import import_suite

        suites_dir = self.ctx.ws.suites_dir
        self._busy(True, f"Importing {source} as {kind}…")
        return self.ctx.runner.submit(
            "Import suite",
            lambda progress, cancel: import_suite(kind, source, suites_dir=suites_dir,
                                                  id=suite_id, name=name, version=version),
            on_success=lambda s: (self._busy(False, f"Imported {len(s.items)} items into "
                                                    f"{s.id} {s.version}."),
                                  self.ctx.notify_suites()),
            on_failure=self._failed)

    # -- corpora ------------------------------------------------------------
    def _build_corpora_tab(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        buttons = QHBoxLayout()
        self.ingest_btn = QPushButton("Ingest documents…")
        self.ingest_btn.setObjectName("primary")
        self.ingest_btn.clicked.connect(self.ingest_dialog)
        buttons.addWidget(self.ingest_btn)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        split = QSplitter(Qt.Orientation.Vertical)
        self.corpora_table = make_table(("Corpus", "Documents", "Chunks", "Updated", "Embedder"),
                                        stretch=4)
        self.docs_table = make_table(("Document", "Title", "Chunks", "Tokens", "sha256",
                                      "Source"), stretch=1)
        split.addWidget(self.corpora_table)
        split.addWidget(self.docs_table)
        split.setSizes([150, 500])
        lay.addWidget(split, 1)
        self.corpora_table.itemSelectionChanged.connect(self._show_docs)
        return w

    def refresh_corpora(self) -> None:
        from engine.retrieval.corpus import list_corpora

        try:
            corpora = list_corpora(self.ctx.ws)
        except Exception as exc:
            show_error(self, "Corpora", str(exc))
            corpora = []
        self._corpora = {c.name: c for c in corpora}
        rows = [(c.name, len(c.documents), c.chunk_count, c.updated_at,
                 c.embedder.get("name") or c.embedder.get("model") or str(c.embedder)[:60])
                for c in corpora]
        fill_table(self.corpora_table, rows, keys=[c.name for c in corpora])
        if rows:
            self.corpora_table.selectRow(0)
        else:
            fill_table(self.docs_table, [])

    def _show_docs(self) -> None:
        c = self._corpora.get(selected_key(self.corpora_table))
        if c is None:
            return
        fill_table(self.docs_table, [(d.doc_id, d.title, d.chunks, d.tokens, d.sha256[:16] + "…",
                                      d.source_path) for d in c.documents])

    def ingest_dialog(self) -> None:
        dlg = IngestDialog(self, name=selected_key(self.corpora_table) or "")
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        self.start_ingest(dlg.name.text().strip(), dlg.path_list())

    def start_ingest(self, name: str, paths: list[Path]):
        from engine.retrieval.corpus import ingest_corpus

        ws = self.ctx.ws
        self.tabs.setCurrentIndex(1)
        self._busy(True, f"Ingesting into {name}…")
        return self.ctx.runner.submit(
            f"Ingest corpus {name}",
            lambda progress, cancel: ingest_corpus(ws, paths, name, progress=progress),
            on_progress=self.progress.on_event,
            on_success=lambda r: (self._busy(False, f"{r.name}: {len(r.added)} added, "
                                                    f"{len(r.replaced)} replaced, "
                                                    f"{len(r.unchanged)} unchanged; "
                                                    f"{r.chunk_count} chunks."
                                                    + "".join(f" Note: {n}." for n in r.notes)),
                                  self.ctx.notify_corpora()),
            on_failure=self._failed)

    # -- shared -------------------------------------------------------------
    def _busy(self, busy: bool, message: str) -> None:
        self.import_btn.setEnabled(not busy)
        self.ingest_btn.setEnabled(not busy)
        if busy:
            self.progress.busy(message)
        else:
            self.progress.idle(message)

    def _failed(self, title: str, message: str) -> None:
        self._busy(False, "")
        show_error(self, title, message)
