"""Does retrieval find the evidence? A check of the corpus against a suite.

For each MCQ item whose clean evidence appears verbatim in a corpus document,
a hit means one of the top-k chunks for the item's question overlaps that
passage. The hit rate says how much of the gap between standard RAG and clean
evidence is retrieval's fault rather than the model's.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from engine.suites.schema import McqItem


class EvidenceHits(BaseModel):
    k: int
    items: int = 0                      # items whose evidence was found in the corpus
    hits: int = 0
    not_in_corpus: list[str] = Field(default_factory=list)
    misses: list[str] = Field(default_factory=list)
    ranks: dict[str, int] = Field(default_factory=dict)   # item id -> 1-based rank of first hit

    @property
    def hit_rate(self) -> float:
        return self.hits / self.items if self.items else 0.0


def _sources(corpus) -> dict[str, str]:
    texts = {}
    for d in corpus.manifest.documents:
        try:
            texts[d.doc_id] = Path(d.source_path).read_text(encoding="utf-8")
        except OSError:
            continue
    return texts


def evidence_hits(corpus, items: list[McqItem], k: int) -> EvidenceHits:
    """Top-k hit rate of each item's clean-evidence passage for its question."""
    sources = _sources(corpus)
    out = EvidenceHits(k=k)
    for item in items:
        ev = item.clean_evidence.strip()
        spans = [(doc, text.find(ev)) for doc, text in sources.items() if ev and ev in text]
        if not spans:
            out.not_in_corpus.append(item.id)
            continue
        out.items += 1
        results = corpus.query(item.question, k)
        for rank, chunk in enumerate(results, 1):
            if any(chunk.doc_id == doc and chunk.char_start < s + len(ev) and chunk.char_end > s
                   for doc, s in spans):
                out.hits += 1
                out.ranks[item.id] = rank
                break
        else:
            out.misses.append(item.id)
    return out
