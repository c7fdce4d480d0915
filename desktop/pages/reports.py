"""Reports page: one signed PDF safety audit report per candidate model, and its check.

IT generates the report from a stored run (the engine lays it out, embeds the
machine-readable manifest and signs it with the institution's PKCS#12 key),
verifies it exactly as a committee member would (signature, trust, coverage,
embedded figures recomputed from the store), and opens it in the system PDF
viewer. The passphrase is held only for the signing call.

Verify checks against the workspace's trust certificate (engine.report.trust),
shown above the verdict and chosen with its own button, never the signing key
that happens to be selected: which signer to believe is the reader's decision.
"""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QSizePolicy, QSplitter, QTextBrowser, QVBoxLayout, QWidget)

from desktop.context import AppContext
from desktop.widgets.common import (ProgressLine, fill_table, make_table, muted_label,
                                    page_header, selected_key, show_error, shrinkable_combo)
from desktop.widgets.flow import FlowLayout


REPORT_COLUMNS = ("Report", "Model", "Run", "Verdict (as signed)", "Size", "Modified", "Path")
VERDICT_COLORS = {"PASS": "#1e6b3a", "FAIL": "#b3261e"}


def signed_summary(pdf: Path) -> dict:
    """Model, run and overall verdict from the report's embedded manifest (unverified:
    the Verify button is what checks that the file is authentic)."""
    import json

    from engine.report.verify import extract_manifest

    try:
        raw = extract_manifest(pdf.read_bytes())
        data = json.loads(raw) if raw else {}
    except Exception:  # an unreadable PDF is listed, not fatal; Verify will say why
        return {"overall_verdict": "unreadable"}
    return data


def verification_html(v) -> str:
    """Every check behind the verdict, signer and trust certificate named in full."""
    def yn(flag) -> str:
        return "not checked" if flag is None else ("yes" if flag else "<b>no</b>")
    rows = [("File", Path(v.path).name), ("Signed by", v.signer_text()),
            ("Checked against", v.trust_text()),
            ("Signing time", v.signing_time), ("Signatures", v.signatures),
            ("Intact", yn(v.intact)), ("Cryptographically valid", yn(v.valid)),
            ("Trusted (chains to the trust certificate)", yn(v.trusted)),
            ("Covers the whole file", yn(v.covers_whole_file)),
            ("Embedded manifest", yn(v.manifest_found)), ("Run", v.run_id),
            ("Model", v.model), ("Figures match the results store", yn(v.store_matches))]
    text = "<table cellpadding=3>" + "".join(
        f"<tr><td>{k}</td><td>{'' if val is None else _cell(val)}</td></tr>"
        for k, val in rows) + "</table>"
    if v.problems:
        text += "<p style='color:#b3261e;'><b>Problems</b></p><ul>" + "".join(
            f"<li>{html.escape(p)}</li>" for p in v.problems) + "</ul>"
    if v.notes:
        text += "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in v.notes) + "</ul>"
    return text


def _cell(value) -> str:
    """Names come from an untrusted file: escaped, except the yes/no markup made above."""
    text = str(value)
    return text if text in ("yes", "<b>no</b>", "not checked") else html.escape(text)


class NewKeyDialog(QDialog):
    """Organisation and passphrase for a new self-signed document-signing key."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Create a signing key")
        form = QFormLayout(self)
        self.org = QLineEdit()
        self.org.setPlaceholderText("e.g. St Example Hospital NHS Trust")
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat = QLineEdit()
        self.repeat.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Organisation:", self.org)
        form.addRow("Passphrase:", self.passphrase)
        form.addRow("Repeat:", self.repeat)
        form.addRow(muted_label("A self-signed certificate lets you start at once; the CSR "
                                "written beside it can be sent to your CA."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(480, 200)

    def _check(self) -> None:
        if self.passphrase.text() != self.repeat.text():
            show_error(self, "Create a signing key", "The two passphrases differ.")
            return
        self.accept()


class ReportsPage(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.last_report: Path | None = None
        self.last_verification = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 12)
        lay.addWidget(page_header(
            "Reports",
            "One signed PDF per candidate model: verdict against the governance thresholds, "
            "per-condition figures, worst-case items, and an embedded manifest."))

        # A splitter, not a box: neither panel can squeeze the other to a sliver (the
        # verification text once wrapped one character per line at 1024 px).
        top = QSplitter(Qt.Orientation.Horizontal)
        top.setChildrenCollapsible(False)
        gen = QGroupBox("Generate and sign")
        form = QFormLayout(gen)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.run_combo = shrinkable_combo(QComboBox(), chars=22)
        self.model_combo = shrinkable_combo(QComboBox(), chars=16)
        self.key_combo = shrinkable_combo(QComboBox(), chars=16)
        self.key_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        key_row = FlowLayout()   # the key buttons wrap under the key rather than clip
        key_row.add(self.key_combo)
        self.new_key_btn = QPushButton("New key…")
        self.import_key_btn = QPushButton("Import .p12…")
        key_row.add(self.new_key_btn, self.import_key_btn)
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setPlaceholderText("unlocks the key for this signing only")
        self.generate_btn = QPushButton("Generate signed report")
        self.generate_btn.setObjectName("primary")
        form.addRow("Run:", self.run_combo)
        form.addRow("Candidate model:", self.model_combo)
        form.addRow("Signing key:", key_row)
        form.addRow("Passphrase:", self.passphrase)
        form.addRow("", self.generate_btn)
        gen.setMinimumWidth(300)
        top.addWidget(gen)

        ver = QGroupBox("Verification")
        vl = QVBoxLayout(ver)
        trust_row = QHBoxLayout()
        trust_row.addWidget(QLabel("Trust certificate:"))
        trust_row.addStretch(1)
        self.trust_label = QLabel()
        self.trust_label.setTextFormat(Qt.TextFormat.PlainText)  # names come from files
        self.trust_label.setWordWrap(True)
        self.trust_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.trust_btn = QPushButton("Choose…")
        self.trust_btn.setToolTip("The certificate of the institution whose reports you rely "
                                  "on; remembered for this workspace.")
        trust_row.addWidget(self.trust_btn)
        vl.addLayout(trust_row)
        vl.addWidget(self.trust_label)   # its own line: a long certificate name wraps in full width
        self.verdict = QLabel("Select a report and press Verify.")
        self.verdict.setTextFormat(Qt.TextFormat.PlainText)
        self.verdict.setWordWrap(True)
        self.verify_text = QTextBrowser()
        vl.addWidget(self.verdict)
        vl.addWidget(self.verify_text, 1)
        self.verify_text.setMinimumHeight(110)   # the checks must stay readable when short
        ver.setMinimumWidth(300)
        top.addWidget(ver)
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 1)

        # Panels above, report list below, the boundary draggable: at 680 px the
        # verification needs room more than an empty list does.
        body = QSplitter(Qt.Orientation.Vertical)
        body.setChildrenCollapsible(False)
        body.addWidget(top)
        listing = QWidget()
        ll = QVBoxLayout(listing)
        ll.setContentsMargins(0, 4, 0, 0)
        row = FlowLayout()
        self.verify_btn = QPushButton("Verify")
        self.open_btn = QPushButton("Open PDF")
        self.folder_btn = QPushButton("Open folder")
        row.add(QLabel("Reports in this workspace"))
        row.add(self.verify_btn, self.open_btn, self.folder_btn, right=True)
        ll.addLayout(row)
        self.table = make_table(REPORT_COLUMNS, stretch=6)
        self.table.setMinimumHeight(90)
        ll.addWidget(self.table, 1)
        body.addWidget(listing)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 2)
        body.setSizes([360, 200])
        lay.addWidget(body, 1)
        self.progress = ProgressLine()
        lay.addWidget(self.progress)

        self.run_combo.currentIndexChanged.connect(lambda _: self._fill_models())
        self.new_key_btn.clicked.connect(self.new_key)
        self.import_key_btn.clicked.connect(self.import_key)
        self.generate_btn.clicked.connect(self.generate_selected)
        self.verify_btn.clicked.connect(self.verify_selected)
        self.trust_btn.clicked.connect(self.choose_trust_file)
        self.open_btn.clicked.connect(self.open_selected)
        self.folder_btn.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.ctx.ws.reports_dir))))
        self.table.doubleClicked.connect(lambda _: self.open_selected())
        ctx.runs_changed.connect(self.refresh)
        ctx.reports_changed.connect(self.refresh)
        self.refresh()

    # -- lists --------------------------------------------------------------
    def refresh(self) -> None:
        current = self.run_combo.currentData()
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        try:
            runs = self.ctx.store.list_runs()
        except Exception:
            runs = []
        self._runs = {r.id: r for r in runs}
        for r in runs:
            if r.status == "completed" or r.id == current:
                self.run_combo.addItem(f"{r.id} · {r.status} · {r.profile}", r.id)
        if self.run_combo.count() == 0:
            self.run_combo.addItem("(no completed runs)", None)
        idx = self.run_combo.findData(current)
        self.run_combo.setCurrentIndex(idx if idx >= 0 else 0)
        self.run_combo.blockSignals(False)
        self._fill_models()
        self._fill_keys()
        self._fill_reports()
        self._show_trust()

    def _fill_models(self) -> None:
        self.model_combo.clear()
        run = self._runs.get(self.run_combo.currentData())
        for m in (run.models if run is not None else []):
            self.model_combo.addItem(m, m)
        self.generate_btn.setEnabled(self.model_combo.count() > 0)

    def _fill_keys(self) -> None:
        current = self.key_combo.currentData()
        self.key_combo.clear()
        for p in sorted(self.ctx.ws.keys_dir.glob("*.p12")):
            self.key_combo.addItem(p.name, str(p))
        if self.key_combo.count() == 0:
            self.key_combo.addItem("(no key: create or import one)", None)
        idx = self.key_combo.findData(current)
        if idx >= 0:
            self.key_combo.setCurrentIndex(idx)

    def _fill_reports(self) -> None:
        from datetime import datetime

        pdfs = sorted(self.ctx.ws.reports_dir.rglob("*.pdf"), key=lambda p: p.stat().st_mtime,
                      reverse=True)
        rows = []
        for p in pdfs:
            info = signed_summary(p)
            rows.append((p.name, info.get("model"), info.get("run_id"),
                         info.get("overall_verdict") or "no manifest",
                         f"{p.stat().st_size / 1024:.0f} KB",
                         datetime.fromtimestamp(p.stat().st_mtime).strftime("%Y-%m-%d %H:%M"),
                         str(p)))
        fill_table(self.table, rows, keys=[str(p) for p in pdfs])
        for r, row in enumerate(rows):
            color = VERDICT_COLORS.get(str(row[3]))
            if color:
                self.table.item(r, 3).setForeground(QColor(color))
        if rows and self.table.currentRow() < 0:
            self.table.selectRow(0)
        for b in (self.verify_btn, self.open_btn):
            b.setEnabled(bool(rows))

    # -- keys ---------------------------------------------------------------
    def new_key(self) -> None:
        dlg = NewKeyDialog(self)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        self.create_key(dlg.org.text().strip(), dlg.passphrase.text())

    def create_key(self, org: str, passphrase: str):
        from engine.report.keys import create_signing_identity

        safe = "".join(ch if ch.isalnum() else "-" for ch in org).strip("-").lower() or "institution"
        out = self.ctx.ws.keys_dir / f"{safe}.p12"
        self.progress.busy("Creating a 3072-bit signing key…")
        return self.ctx.runner.submit(
            "Create signing key",
            lambda progress, cancel: create_signing_identity(org, out, passphrase,
                                                             csr_path=out.with_suffix(".csr")),
            on_success=lambda files: (self.progress.idle(f"Key written to {files.p12}; "
                                                         f"certificate {files.cert_pem}"),
                                      self._fill_keys(), self._show_trust(),
                                      self.key_combo.setCurrentIndex(
                                          max(0, self.key_combo.findData(str(files.p12))))),
            on_failure=self._failed)

    def import_key(self) -> None:
        from engine.report.keys import import_key

        path, _ = QFileDialog.getOpenFileName(self, "PKCS#12 signing key", "",
                                              "PKCS#12 (*.p12 *.pfx)")
        if not path:
            return
        if not self.passphrase.text():
            show_error(self, "Import key", "Type the key's passphrase in the Passphrase field "
                                           "first; it is checked before the key is copied.")
            return
        keys_dir, pw = self.ctx.ws.keys_dir, self.passphrase.text()
        self.ctx.runner.submit(
            "Import signing key", lambda progress, cancel: import_key(keys_dir, path, pw),
            on_success=lambda dest: (self.progress.idle(f"Imported {dest}"), self._fill_keys(),
                                     self._show_trust()),
            on_failure=self._failed)

    # -- generate / verify / open ------------------------------------------
    def generate_selected(self):
        run_id = self.run_combo.currentData()
        model = self.model_combo.currentData()
        key = self.key_combo.currentData()
        if not run_id or not model:
            return None
        if not key:
            show_error(self, "Generate report", "No signing key: create one (New key…) or "
                                                "import your institution's PKCS#12 file.")
            return None
        return self.generate(run_id, model, Path(key), self.passphrase.text())

    def generate(self, run_id: str, model: str, key: Path, passphrase: str):
        ws, store = self.ctx.ws, self.ctx.store

        def work(progress, cancel):
            from engine.report.build import build_report
            return build_report(ws, store, run_id, model, key, passphrase, progress=progress)

        self.generate_btn.setEnabled(False)
        self.progress.busy(f"Building and signing the report for {model}…")
        return self.ctx.runner.submit(
            f"Report for {model}", work, on_progress=self.progress.on_event,
            on_success=self._generated, on_failure=self._failed,
            on_finished=lambda: self.generate_btn.setEnabled(self.model_combo.count() > 0))

    def _generated(self, result) -> None:
        path = Path(getattr(result, "pdf_path", None) or getattr(result, "path", None) or result)
        self.last_report = path
        self.progress.idle(f"Signed report written: {path}")
        self.ctx.notify_reports()
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == str(path):
                self.table.selectRow(r)
        self.ctx.status_message.emit(f"Report written: {path}")

    # -- trust certificate --------------------------------------------------
    def trust_anchor(self):
        """The workspace's chosen certificate, else the unambiguous default, else None."""
        from engine.report.trust import resolve_trust_anchor

        return resolve_trust_anchor(self.ctx.ws)

    def _show_trust(self) -> None:
        anchor = self.trust_anchor()
        if anchor is None:
            self.trust_label.setText("none chosen: press Choose… and pick the certificate of "
                                     "the institution whose reports you rely on.")
        elif not anchor.usable:
            self.trust_label.setText(f"cannot be used: {anchor.describe()}")
        else:
            self.trust_label.setText(anchor.describe())

    def choose_trust_file(self):
        chosen, _ = QFileDialog.getOpenFileName(self, "Institution certificate to trust",
                                                str(self.ctx.ws.keys_dir),
                                                "Certificate (*.pem *.crt *.cer *.der)")
        return self.choose_trust(Path(chosen)) if chosen else None

    def choose_trust(self, cert: Path):
        """Remember `cert` as this workspace's trust certificate (the engine checks it)."""
        from engine.errors import SafeVetError
        from engine.report.trust import choose_trust_cert

        try:
            anchor = choose_trust_cert(self.ctx.ws, cert)
        except SafeVetError as exc:
            show_error(self, "Trust certificate", str(exc))
            return None
        self._show_trust()
        self.progress.idle(f"Reports are now checked against {anchor.describe()}")
        return anchor

    def verify_selected(self):
        path = selected_key(self.table)
        if not path:
            return None
        anchor = self.trust_anchor()
        if anchor is None:
            anchor = self.choose_trust_file()
            if anchor is None:
                return None
        if not anchor.usable:
            show_error(self, "Verify", f"The trust certificate cannot be used: "
                                       f"{anchor.describe()}. Press Choose… to pick it again.")
            return None
        return self.verify(Path(path), anchor.path)

    def verify(self, pdf: Path, cert: Path):
        from engine.report.verify import verify_report

        ws = self.ctx.ws
        self.progress.busy(f"Verifying {pdf.name}…")
        return self.ctx.runner.submit(
            f"Verify {pdf.name}", lambda progress, cancel: verify_report(pdf, cert, ws),
            on_success=self._show_verification, on_failure=self._failed)

    def _show_verification(self, v) -> None:
        from engine.report.verify import VerifyOutcome

        self.last_verification = v
        self.progress.idle("")
        outcome = v.outcome
        mark = {VerifyOutcome.TRUSTED: "✓", VerifyOutcome.UNTRUSTED: "⚠"}.get(outcome, "✗")
        self.verdict.setObjectName("ok" if outcome is VerifyOutcome.TRUSTED else "danger")
        self.verdict.setText(f"{mark} {outcome.verdict} — {outcome.headline}. "
                             f"{v.explanation()}")
        self.verdict.style().unpolish(self.verdict)
        self.verdict.style().polish(self.verdict)
        self.verify_text.setHtml(verification_html(v))

    def open_selected(self) -> None:
        path = selected_key(self.table)
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def _failed(self, title: str, message: str) -> None:
        self.progress.idle("")
        show_error(self, title, message)
