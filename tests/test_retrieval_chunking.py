"""Chunks are token-bounded, overlap, and cover the document exactly."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.retrieval.chunking import ChunkSettings, chunk_text
from engine.retrieval.embedder import OnnxEmbedder

TEXT = " ".join(f"Sentence number {i} talks about contrast agent safety in radiology."
                for i in range(120))


def test_chunks_are_bounded_overlapping_and_cover_the_text(embedder_folder):
    emb = OnnxEmbedder(embedder_folder)
    settings = ChunkSettings(chunk_tokens=64, overlap_tokens=12)
    chunks = chunk_text(TEXT, emb.counter, settings)
    assert len(chunks) > 5
    for c in chunks:
        assert c.text == TEXT[c.char_start:c.char_end]
        assert emb.count_tokens(c.text) <= 64
        assert c.tokens <= 64
    for a, b in zip(chunks, chunks[1:]):
        assert b.char_start < a.char_end, "neighbours must overlap"
        assert b.char_start > a.char_start, "chunking must progress"
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(TEXT)
    # boundaries fall at sentence ends when one is near
    assert all(c.text.endswith(".") for c in chunks)


def test_empty_text_has_no_chunks_and_bad_settings_are_refused(embedder_folder):
    emb = OnnxEmbedder(embedder_folder)
    assert chunk_text("   \n", emb.counter, ChunkSettings()) == []
    with pytest.raises(ValidationError):
        ChunkSettings(chunk_tokens=64, overlap_tokens=40)
    with pytest.raises(ValidationError):
        ChunkSettings(chunk_tokens=1000)
