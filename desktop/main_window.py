"""The main window: a page list on the left, the page on the right, a status bar.

Pages are built lazily-free (all at start, they are cheap) and refresh from
the workspace when shown, so what the user sees is never stale after work
done on another page or by the CLI in a terminal.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMainWindow,
                               QMessageBox, QStackedWidget, QVBoxLayout, QWidget)

from desktop.context import AppContext
from desktop.pages.models import ModelsPage
from desktop.pages.reports import ReportsPage
from desktop.pages.results import ResultsPage
from desktop.pages.review import ReviewPage
from desktop.pages.run import RunPage
from desktop.pages.suites import SuitesPage
from desktop.widgets.elided import ElidedLabel

PAGE_ORDER = ("models", "suites", "run", "results", "reports", "review")
NAV_WIDTH = 184   # px: every pixel the page list keeps is a table column the pages lose
PAGE_TITLES = {"models": "Models", "suites": "Suites && corpora", "run": "Run",
               "results": "Results", "reports": "Reports", "review": "Review"}


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle(f"SafeVet — clinical LLM safety vetting — {ctx.ws.home}")
        self.setMinimumSize(1024, 680)
        self.resize(1360, 860)

        self.pages = {
            "models": ModelsPage(ctx),
            "suites": SuitesPage(ctx),
            "run": RunPage(ctx),
            "results": ResultsPage(ctx),
            "reports": ReportsPage(ctx),
            "review": ReviewPage(ctx),
        }
        self.stack = QStackedWidget()
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setFixedWidth(NAV_WIDTH)
        self.nav.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        for i, key in enumerate(PAGE_ORDER):
            self.stack.addWidget(self.pages[key])
            item = QListWidgetItem(f"{PAGE_TITLES[key].replace('&&', '&')}")
            item.setToolTip(f"Ctrl+{i + 1}")
            self.nav.addItem(item)
        self.nav.currentRowChanged.connect(self._show_row)

        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.setContentsMargins(0, 0, 0, 0)
        side_lay.setSpacing(0)
        brand = QLabel("SafeVet")
        brand.setObjectName("brand")
        sub = QLabel("Offline safety vetting\nof clinical LLMs")
        sub.setObjectName("brandSub")
        side_lay.addWidget(brand)
        side_lay.addWidget(sub)
        side_lay.addWidget(self.nav, 1)
        side.setFixedWidth(NAV_WIDTH)

        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(side)
        lay.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        # Keyboard: Ctrl+1..6 jump to a page; the page list itself takes arrow keys.
        for i, key in enumerate(PAGE_ORDER):
            act = QAction(self)
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            act.triggered.connect(lambda _=False, k=key: self.show_page(k))
            self.addAction(act)
        quit_act = QAction("Quit", self)
        quit_act.setShortcut(QKeySequence.StandardKey.Quit)
        quit_act.triggered.connect(self.close)
        self.addAction(quit_act)

        # Elided labels: a deep workspace path or a long message must not make the window
        # wider than the screen; the full text is the tooltip.
        self.ws_label = ElidedLabel(f"Workspace: {ctx.ws.home}")
        self.ws_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.provider_label = ElidedLabel(f"Execution provider: {ctx.provider_name()}",
                                          mode=Qt.TextElideMode.ElideRight)
        self.busy_label = ElidedLabel("", mode=Qt.TextElideMode.ElideRight)
        self.message_label = ElidedLabel("")
        self.statusBar().addWidget(self.ws_label, 1)
        self.statusBar().addWidget(self.message_label, 1)
        self.statusBar().addPermanentWidget(self.busy_label)
        self.statusBar().addPermanentWidget(self.provider_label)
        ctx.runner.tasks_changed.connect(self._show_tasks)
        ctx.status_message.connect(self.message_label.setText)

        ctx.open_run.connect(self.open_run_results)
        self.nav.setCurrentRow(0)

    def _show_tasks(self) -> None:
        """Name what is running ("Working: Results of run …"), and nothing once idle."""
        titles = self.ctx.runner.titles()
        if not titles:
            self.busy_label.setText("")
            return
        more = f" (+{len(titles) - 1} more)" if len(titles) > 1 else ""
        self.busy_label.setText(f"Working: {titles[0]}{more}")
        self.busy_label.setToolTip("\n".join(titles))

    def open_run_results(self, run_id: str) -> None:
        self.show_page("results")
        self.pages["results"].select_run(run_id)

    def _show_row(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        page = self.stack.currentWidget()
        refresh = getattr(page, "refresh", None)
        if refresh is not None:
            refresh()

    def show_page(self, key: str) -> None:
        self.nav.setCurrentRow(PAGE_ORDER.index(key))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        if self.ctx.runner.active:
            answer = QMessageBox.question(
                self, "Work in progress",
                "A task is still running. Stop it after the call in flight and quit?\n"
                "Every completed call is already stored; a run can be resumed later.")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.ctx.close()
        event.accept()
