"""The Chroma embedding function that wraps SafeVet's local ONNX embedder.

Registered under its own name so Chroma persists *this* function in the
collection's configuration: reopening a corpus in a process that has not
imported this module fails loudly instead of falling back to Chroma's default
embedder, which would try to download a model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from engine.retrieval.embedder import OnnxEmbedder

EF_NAME = "safevet-onnx-minilm"


@register_embedding_function
class SafeVetEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma adapter: documents in, unit vectors out (cosine space)."""

    def __init__(self, folder: str | Path, embedder: OnnxEmbedder | None = None) -> None:
        self.folder = str(folder)
        self._embedder = embedder

    @property
    def embedder(self) -> OnnxEmbedder:
        if self._embedder is None:
            self._embedder = OnnxEmbedder(self.folder)
        return self._embedder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embedder.embed(list(input)))

    @staticmethod
    def name() -> str:
        return EF_NAME

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"folder": self.folder, "model_sha256": self.embedder.model_sha256}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "SafeVetEmbeddingFunction":
        return SafeVetEmbeddingFunction(config["folder"])

    def validate_config_update(self, old_config: dict[str, Any],
                               new_config: dict[str, Any]) -> None:
        if old_config.get("model_sha256") != new_config.get("model_sha256"):
            raise ValueError("a corpus cannot change its embedding model; re-ingest it")
