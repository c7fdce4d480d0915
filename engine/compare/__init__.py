"""Comparison of candidate models: two candidates on the same items, and the cycles of a
model lineage (engine.compare.candidates, engine.compare.lineage)."""
