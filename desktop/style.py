"""The look: calm, light, high-contrast, one accent colour.

A governance tool should read like a clinical system, not a game: neutral
greys, a single teal-blue accent for what can be acted on, red only for
failures and danger, and nothing animated except progress.
"""
from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#1f6f8b"
ACCENT_DARK = "#16546a"
TEXT = "#1d2733"
MUTED = "#5b6b79"
BORDER = "#d3dbe2"
WINDOW = "#f4f6f8"
PANEL = "#ffffff"
DANGER = "#b3261e"
WARNING = "#8a5a00"
OK = "#1e6b3a"

STYLESHEET = f"""
QWidget {{ color: {TEXT}; }}
QMainWindow, QStackedWidget > QWidget {{ background: {WINDOW}; }}
QListWidget#nav {{
    background: #e8edf1; border: none; border-right: 1px solid {BORDER};
    padding-top: 8px; font-size: 14px; outline: 0;
}}
QListWidget#nav::item {{ padding: 10px 16px; margin: 1px 6px; border-radius: 4px; }}
QListWidget#nav::item:selected {{ background: {ACCENT}; color: white; }}
QListWidget#nav::item:hover:!selected {{ background: #dbe3e9; }}
QLabel#brand {{ font-size: 17px; font-weight: 600; color: {ACCENT_DARK}; padding: 14px 16px 2px 16px;
               background: #e8edf1; }}
QLabel#brandSub {{ color: {MUTED}; padding: 0 16px 10px 16px; background: #e8edf1; }}
QLabel#pageTitle {{ font-size: 20px; font-weight: 600; }}
QLabel#pageSubtitle {{ color: {MUTED}; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#danger {{ color: {DANGER}; font-weight: 600; }}
QLabel#ok {{ color: {OK}; font-weight: 600; }}
QGroupBox {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 6px;
            margin-top: 14px; padding: 10px 8px 8px 8px; font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {ACCENT_DARK}; }}
QGroupBox QLabel, QGroupBox QCheckBox, QGroupBox QRadioButton {{ font-weight: normal; }}
QTableWidget, QTableView, QListWidget, QTextBrowser, QPlainTextEdit, QTreeWidget {{
    background: {PANEL}; border: 1px solid {BORDER}; border-radius: 4px;
    selection-background-color: #cfe3ea; selection-color: {TEXT};
    alternate-background-color: #f8fafb;
}}
QHeaderView::section {{ background: #eef2f5; border: none; border-bottom: 1px solid {BORDER};
                       border-right: 1px solid {BORDER}; padding: 5px 6px; font-weight: 600; }}
QPushButton {{ background: {PANEL}; border: 1px solid #b9c4cd; border-radius: 4px;
              padding: 6px 14px; }}
QPushButton:hover {{ background: #eef4f7; }}
QPushButton:focus {{ border: 2px solid {ACCENT}; }}
QPushButton:disabled {{ color: #9aa6b0; background: #f1f3f5; border-color: #dde2e6; }}
QPushButton#primary {{ background: {ACCENT}; color: white; border: 1px solid {ACCENT_DARK};
                      font-weight: 600; }}
QPushButton#primary:hover {{ background: {ACCENT_DARK}; }}
QPushButton#primary:disabled {{ background: #9dbcc8; border-color: #9dbcc8; color: #f4f6f8; }}
QPushButton#danger {{ color: {DANGER}; border-color: #d9a19d; }}
QProgressBar {{ border: 1px solid {BORDER}; border-radius: 4px; background: #eef2f5;
               text-align: center; height: 18px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 3px; }}
QTabWidget::pane {{ border: 1px solid {BORDER}; background: {PANEL}; border-radius: 4px; }}
QTabBar::tab {{ background: #e8edf1; border: 1px solid {BORDER}; padding: 6px 14px;
               border-top-left-radius: 4px; border-top-right-radius: 4px; margin-right: 2px; }}
QTabBar::tab:selected {{ background: {PANEL}; border-bottom-color: {PANEL}; font-weight: 600; }}
QLineEdit, QComboBox, QSpinBox {{ background: {PANEL}; border: 1px solid #b9c4cd;
                                 border-radius: 4px; padding: 4px 6px; }}
QLineEdit:focus, QComboBox:focus, QSpinBox:focus {{ border: 2px solid {ACCENT}; }}
QStatusBar {{ background: #e8edf1; border-top: 1px solid {BORDER}; color: {MUTED}; }}
QStatusBar QLabel {{ color: {MUTED}; padding: 0 8px; }}
"""


def apply_style(app: QApplication) -> None:
    """Fusion (same on every OS), a light palette and the stylesheet above."""
    app.setStyle("Fusion")
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, QColor(WINDOW))
    palette.setColor(QPalette.ColorRole.Base, QColor(PANEL))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#f8fafb"))
    palette.setColor(QPalette.ColorRole.Text, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Button, QColor(PANEL))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
    palette.setColor(QPalette.ColorRole.ToolTipBase, QColor(PANEL))
    palette.setColor(QPalette.ColorRole.ToolTipText, QColor(TEXT))
    app.setPalette(palette)
    font = QFont(app.font())
    font.setPointSize(10)
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)
