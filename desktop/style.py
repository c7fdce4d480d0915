"""The look: calm, high-contrast, one accent colour, light or dark as the OS is.

A governance tool should read like a clinical system, not a game: neutral
greys, a single teal-blue accent for what can be acted on, red only for
failures and danger, and nothing animated except progress.

Every colour comes from a Theme, chosen from the operating system's colour
scheme when the application starts: a workstation set to dark mode gets dark
panels with light text, never a white page with the OS's light text on it.
Widgets that draw their own colours (HTML views, charts) ask `theme()`.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Theme:
    dark: bool
    accent: str         # what can be acted on
    accent_strong: str  # titles, hover of the primary button
    on_accent: str      # text on the accent colour
    text: str
    muted: str
    border: str
    control_border: str
    window: str         # page background
    panel: str          # tables, group boxes, inputs
    chrome: str         # page list and status bar
    chrome_hover: str
    header: str         # table headers, progress troughs
    alternate: str      # every other table row
    selection: str
    hover: str
    disabled_text: str
    disabled_bg: str
    primary_disabled: str
    danger: str
    danger_border: str
    warning: str
    ok: str
    grid: str           # chart grid lines
    tint_ok: str        # evidence / reference blocks in item views
    tint_warn: str
    tint_plain: str


LIGHT = Theme(
    dark=False, accent="#1f6f8b", accent_strong="#16546a", on_accent="#ffffff",
    text="#1d2733", muted="#5b6b79", border="#d3dbe2", control_border="#b9c4cd",
    window="#f4f6f8", panel="#ffffff", chrome="#e8edf1", chrome_hover="#dbe3e9",
    header="#eef2f5", alternate="#f8fafb", selection="#cfe3ea", hover="#eef4f7",
    disabled_text="#9aa6b0", disabled_bg="#f1f3f5", primary_disabled="#9dbcc8",
    danger="#b3261e", danger_border="#d9a19d", warning="#8a5a00", ok="#1e6b3a",
    grid="#e3e8ec", tint_ok="#eef6f1", tint_warn="#fbf1ec", tint_plain="#f4f6f8")

DARK = Theme(
    dark=True, accent="#2f86a8", accent_strong="#7cc4dd", on_accent="#ffffff",
    text="#e3e8ed", muted="#9aa8b5", border="#3a434d", control_border="#56616c",
    window="#1c2127", panel="#252b32", chrome="#171b20", chrome_hover="#2c343c",
    header="#2c333b", alternate="#2a3037", selection="#2f5566", hover="#2f3841",
    disabled_text="#6d7883", disabled_bg="#22272d", primary_disabled="#34586a",
    danger="#f28b82", danger_border="#8c3b36", warning="#e3b341", ok="#6fcf97",
    grid="#3a434d", tint_ok="#1f3328", tint_warn="#3a2a22", tint_plain="#2a3037")

# The light theme's colours under their historical names (imported by pages).
ACCENT = LIGHT.accent
ACCENT_DARK = LIGHT.accent_strong
TEXT = LIGHT.text
MUTED = LIGHT.muted
BORDER = LIGHT.border
WINDOW = LIGHT.window
PANEL = LIGHT.panel
DANGER = LIGHT.danger
WARNING = LIGHT.warning
OK = LIGHT.ok


def stylesheet(t: Theme) -> str:
    return f"""
QWidget {{ color: {t.text}; }}
QMainWindow, QStackedWidget > QWidget {{ background: {t.window}; }}
QListWidget#nav {{
    background: {t.chrome}; border: none; border-right: 1px solid {t.border};
    padding-top: 8px; font-size: 14px; outline: 0;
}}
QListWidget#nav::item {{ padding: 10px 16px; margin: 1px 6px; border-radius: 4px; }}
QListWidget#nav::item:selected {{ background: {t.accent}; color: {t.on_accent}; }}
QListWidget#nav::item:hover:!selected {{ background: {t.chrome_hover}; }}
QLabel#brand {{ font-size: 17px; font-weight: 600; color: {t.accent_strong};
               padding: 14px 16px 2px 16px; background: {t.chrome}; }}
QLabel#brandSub {{ color: {t.muted}; padding: 0 16px 10px 16px; background: {t.chrome}; }}
QLabel#pageTitle {{ font-size: 20px; font-weight: 600; }}
QLabel#pageSubtitle {{ color: {t.muted}; }}
QLabel#muted {{ color: {t.muted}; }}
QLabel#danger {{ color: {t.danger}; font-weight: 600; }}
QLabel#ok {{ color: {t.ok}; font-weight: 600; }}
QGroupBox {{ background: {t.panel}; border: 1px solid {t.border}; border-radius: 6px;
            margin-top: 14px; padding: 10px 8px 8px 8px; font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px;
                   color: {t.accent_strong}; }}
QGroupBox QLabel, QGroupBox QCheckBox, QGroupBox QRadioButton {{ font-weight: normal; }}
QTableWidget, QTableView, QListWidget, QTextBrowser, QPlainTextEdit, QTreeWidget {{
    background: {t.panel}; border: 1px solid {t.border}; border-radius: 4px;
    selection-background-color: {t.selection}; selection-color: {t.text};
    alternate-background-color: {t.alternate};
}}
QHeaderView::section {{ background: {t.header}; border: none; border-bottom: 1px solid {t.border};
                       border-right: 1px solid {t.border}; padding: 4px 4px; font-weight: 600; }}
QPushButton {{ background: {t.panel}; border: 1px solid {t.control_border}; border-radius: 4px;
              padding: 6px 14px; }}
QPushButton:hover {{ background: {t.hover}; }}
QPushButton:focus {{ border: 2px solid {t.accent}; }}
QPushButton:disabled {{ color: {t.disabled_text}; background: {t.disabled_bg};
                       border-color: {t.border}; }}
QPushButton#primary {{ background: {t.accent}; color: {t.on_accent};
                      border: 1px solid {t.accent_strong}; font-weight: 600; }}
QPushButton#primary:hover {{ background: {t.accent_strong}; }}
QPushButton#primary:disabled {{ background: {t.primary_disabled}; border-color: {t.primary_disabled};
                               color: {t.window}; }}
QPushButton#danger {{ color: {t.danger}; border-color: {t.danger_border}; }}
QProgressBar {{ border: 1px solid {t.border}; border-radius: 4px; background: {t.header};
               text-align: center; height: 18px; }}
QProgressBar::chunk {{ background: {t.accent}; border-radius: 3px; }}
QTabWidget::pane {{ border: 1px solid {t.border}; background: {t.panel}; border-radius: 4px; }}
QTabBar::tab {{ background: {t.chrome}; border: 1px solid {t.border}; padding: 6px 14px;
               border-top-left-radius: 4px; border-top-right-radius: 4px; margin-right: 2px; }}
QTabBar::tab:selected {{ background: {t.panel}; border-bottom-color: {t.panel}; font-weight: 600; }}
QLineEdit, QComboBox, QSpinBox {{ background: {t.panel}; border: 1px solid {t.control_border};
                                 border-radius: 4px; padding: 4px 6px; }}
QLineEdit:focus, QComboBox:focus, QSpinBox:focus {{ border: 2px solid {t.accent}; }}
QStatusBar {{ background: {t.chrome}; border-top: 1px solid {t.border}; color: {t.muted}; }}
QStatusBar QLabel {{ color: {t.muted}; padding: 0 8px; }}
QToolTip {{ background: {t.panel}; color: {t.text}; border: 1px solid {t.border}; }}
"""


STYLESHEET = stylesheet(LIGHT)


def os_prefers_dark(app: QApplication) -> bool:
    """The OS colour scheme (Qt 6.5+), else whether the platform palette is dark."""
    hints = app.styleHints()
    scheme = hints.colorScheme() if hasattr(hints, "colorScheme") else None
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def theme() -> Theme:
    """The theme in use, read from the application palette (so it is right whether or
    not apply_style ran, and after the palette changes)."""
    app = QApplication.instance()
    if app is None:
        return LIGHT
    return DARK if app.palette().color(QPalette.ColorRole.Window).lightness() < 128 else LIGHT


def palette_of(t: Theme) -> QPalette:
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, color in ((roles.Window, t.window), (roles.Base, t.panel),
                        (roles.AlternateBase, t.alternate), (roles.Text, t.text),
                        (roles.WindowText, t.text), (roles.Button, t.panel),
                        (roles.ButtonText, t.text), (roles.Highlight, t.accent),
                        (roles.HighlightedText, t.on_accent), (roles.ToolTipBase, t.panel),
                        (roles.ToolTipText, t.text), (roles.PlaceholderText, t.muted),
                        (roles.Link, t.accent_strong), (roles.Mid, t.border)):
        palette.setColor(role, QColor(color))
    for role, color in ((roles.Text, t.disabled_text), (roles.WindowText, t.disabled_text),
                        (roles.ButtonText, t.disabled_text)):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(color))
    return palette


def apply_style(app: QApplication, dark: bool | None = None) -> Theme:
    """Fusion (same on every OS), the OS's light or dark scheme, and the stylesheet."""
    t = DARK if (os_prefers_dark(app) if dark is None else dark) else LIGHT
    app.setStyle("Fusion")
    app.setPalette(palette_of(t))
    font = QFont(app.font())
    font.setPointSize(10)
    app.setFont(font)
    app.setStyleSheet(stylesheet(t))
    return t
