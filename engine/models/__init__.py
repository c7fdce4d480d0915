"""Candidate models: import and export (needs torch/optimum), registry, and a torch-free runtime.

Importing this package imports nothing heavy; the runtime needs only
onnxruntime, tokenizers and numpy, and export tooling is imported lazily.
"""
