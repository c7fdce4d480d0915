"""Token-bounded, overlapping chunks of a document.

Bounds are counted in the embedder's own tokens because the embedder truncates
at 256 tokens: a chunk longer than that would be embedded by its head only and
its tail could never be found. Chunks end at a sentence or word boundary where
one is near, and overlap, so a passage cut by a boundary is still whole in one
of its two neighbours. Each chunk keeps its character span in the source, which
lets a test (or a reviewer) say exactly which passage was retrieved.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, Field, model_validator


class ChunkSettings(BaseModel):
    """How documents are cut; recorded in the corpus manifest."""

    chunk_tokens: int = Field(default=200, ge=16, le=256)
    overlap_tokens: int = Field(default=40, ge=0)

    @model_validator(mode="after")
    def _overlap_smaller_than_chunk(self) -> "ChunkSettings":
        if self.overlap_tokens >= self.chunk_tokens // 2:
            raise ValueError("overlap_tokens must be under half of chunk_tokens")
        return self


@dataclass(frozen=True)
class TextChunk:
    index: int
    text: str
    char_start: int
    char_end: int
    tokens: int


class _Encoding(Protocol):
    offsets: list[tuple[int, int]]


class _Tokenizer(Protocol):
    def encode(self, text: str, add_special_tokens: bool = ...) -> _Encoding: ...


_SENTENCE_END = ".!?:;"


def chunk_text(text: str, tokenizer: _Tokenizer, settings: ChunkSettings) -> list[TextChunk]:
    """Cut `text` into chunks of at most `chunk_tokens` tokens, overlapping.

    `tokenizer` is a tokenizers.Tokenizer without truncation (offsets are
    character spans into `text`).
    """
    offsets = [o for o in tokenizer.encode(text, add_special_tokens=False).offsets
               if o[1] > o[0]]
    n = len(offsets)
    if n == 0:
        return []

    def word_start(i: int) -> bool:
        s = offsets[i][0]
        return i == 0 or s == 0 or text[s - 1].isspace()

    def sentence_end(i: int) -> bool:
        # token i closes a sentence if it is end punctuation followed by whitespace/end
        s, e = offsets[i]
        return text[e - 1] in _SENTENCE_END and (e >= len(text) or text[e].isspace())

    size, overlap = settings.chunk_tokens, settings.overlap_tokens
    chunks: list[TextChunk] = []
    start = 0
    while start < n:
        end = min(start + size, n)  # exclusive token index
        if end < n:
            floor = start + max(1, (size * 3) // 5)
            cut = next((i + 1 for i in range(end - 1, floor - 1, -1) if sentence_end(i)), None)
            if cut is None:
                cut = next((i for i in range(end, floor, -1) if word_start(i)), end)
            end = cut
        c0, c1 = offsets[start][0], offsets[end - 1][1]
        chunks.append(TextChunk(index=len(chunks), text=text[c0:c1], char_start=c0, char_end=c1,
                                tokens=end - start))
        if end >= n:
            break
        nxt = max(end - overlap, start + 1)
        while nxt < end and not word_start(nxt):
            nxt += 1
        start = nxt
    return chunks
