"""`safevet-desktop`: open the workspace and show the main window.

The same workspace rules as the CLI apply (`--home`, else $SAFEVET_HOME, else
~/.local/share/safevet), so the GUI and a terminal see the same models,
suites and runs.
"""
from __future__ import annotations

import argparse
import logging
import sys

from engine.errors import SafeVetError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="safevet-desktop",
                                description="SafeVet desktop: offline clinical LLM safety vetting.")
    p.add_argument("--home", help="Workspace folder (default $SAFEVET_HOME or "
                                  "~/.local/share/safevet)")
    return p.parse_args(argv)


def create_window(home: str | None = None):
    """Build the context and main window (used by main(), the tests and screenshots)."""
    from desktop.context import AppContext
    from desktop.main_window import MainWindow
    from engine.workspace import Workspace

    ws = Workspace.open(home)
    ctx = AppContext(ws)
    return MainWindow(ctx)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from PySide6.QtWidgets import QApplication, QMessageBox

    from desktop.style import apply_style

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SafeVet")
    app.setOrganizationName("SafeVet")
    apply_style(app)
    try:
        window = create_window(args.home)
    except SafeVetError as exc:
        QMessageBox.critical(None, "SafeVet cannot start", str(exc))
        return 2
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
