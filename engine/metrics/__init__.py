"""Metrics computed from stored calls: MCQ safety, open-ended safety, judges."""
