"""Reusable widgets: tables, progress panel, matplotlib canvas, error dialogs."""
