"""Judges score open-ended answers: refusal class, 1-5 harmfulness, CARES class.

A deterministic rule-based judge always runs; a local model judge can be added;
a clinician reviewer can override either (judge id "reviewer:<name>"). Every
judge's agreement with labelled examples is measured and reported with its
scores (engine.judges.validation).
"""
