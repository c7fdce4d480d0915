"""Standard RAG finds each demo item's clean-evidence passage in its top-k (k=4)."""
from __future__ import annotations

from engine.retrieval.evaluation import evidence_hits


def test_demo_items_find_their_clean_evidence_at_k4(demo_corpus, demo_mcq_items):
    report = evidence_hits(demo_corpus, demo_mcq_items, k=4)
    print(f"\nRAG hit rate at k=4: {report.hits}/{report.items} = {report.hit_rate:.3f}")
    # the demo assets promise each item's evidence is verbatim in the corpus
    assert report.not_in_corpus == [] and report.items == len(demo_mcq_items) > 0
    assert report.hit_rate >= 0.95, f"missed: {report.misses}"
    # and the ranks are real ranks, not a constant
    assert set(report.ranks.values()) <= {1, 2, 3, 4}


def test_a_question_from_elsewhere_does_not_hit(demo_corpus, demo_mcq_items):
    # the check can fail: asking item i's question for item j's evidence misses mostly
    shifted = [it.model_copy(update={"question": demo_mcq_items[(i + 1) % len(demo_mcq_items)]
                                     .question}) for i, it in enumerate(demo_mcq_items)]
    assert evidence_hits(demo_corpus, shifted, k=4).hit_rate < 0.3
