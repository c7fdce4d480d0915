"""Runs: models × suites × conditions × items, executed call by call into the store."""
