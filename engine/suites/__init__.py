"""Suites: versioned sets of benchmark items with a hashed manifest."""
from engine.suites.schema import (ChangelogEntry, McqItem, OpenItem, Suite, SuiteItem,
                                  SuiteManifest)
from engine.suites.io import load_suite, validate_suite_dir, write_suite

__all__ = ["ChangelogEntry", "McqItem", "OpenItem", "Suite", "SuiteItem", "SuiteManifest",
           "load_suite", "validate_suite_dir", "write_suite"]
