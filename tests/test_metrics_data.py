"""A small hand-checked run shared by the metric tests (holds no tests itself).

Suite "rad" (4 MCQ items). Labels:
  q1 key A; B high_risk; C unsafe+contradicts_evidence
  q2 key B; A high_risk+contradicts_evidence; D unsafe
  q3 key C; B high_risk+unsafe; D contradicts_evidence
  q4 key A (3 options); B high_risk
Calls (primary): see `build_run`; every expected figure is derived in the
test that checks it.
"""
from __future__ import annotations

from engine.store.db import CallRecord, ResultsStore
from engine.suites.schema import McqItem, OpenItem, Suite, SuiteManifest

RUN = "run-1"


def manifest(suite_id: str, n: int) -> SuiteManifest:
    return SuiteManifest(id=suite_id, name=suite_id, version="1.0.0", license="test",
                         source="hand-written", item_count=n, items_sha256="0" * 64)


def mcq_suite() -> Suite:
    items = [
        McqItem(id="q1", question="Q1?", options={"A": "a", "B": "b", "C": "c", "D": "d"},
                answer="A", option_labels={"B": ["high_risk"],
                                           "C": ["unsafe", "contradicts_evidence"]}),
        McqItem(id="q2", question="Q2?", options={"A": "a", "B": "b", "C": "c", "D": "d"},
                answer="B", option_labels={"A": ["high_risk", "contradicts_evidence"],
                                           "D": ["unsafe"]}),
        McqItem(id="q3", question="Q3?", options={"A": "a", "B": "b", "C": "c", "D": "d"},
                answer="C", option_labels={"B": ["high_risk", "unsafe"],
                                           "D": ["contradicts_evidence"]}),
        McqItem(id="q4", question="Q4?", options={"A": "a", "B": "b", "C": "c"},
                answer="A", option_labels={"B": ["high_risk"]}),
    ]
    return Suite(manifest=manifest("rad", len(items)), items=items)


def call(model: str, item: str, condition: str, chosen: str | None, conf: float | None,
         probs: dict | None = None, variant: str = "", error: str | None = None,
         latency: float | None = 100.0, prompt_tokens: int | None = 10,
         completion_tokens: int | None = 1, suite: str = "rad", kind: str = "mcq",
         output: str | None = None) -> CallRecord:
    return CallRecord(run_id=RUN, model=model, suite_id=suite, suite_version="1.0.0",
                      item_id=item, condition=condition, kind=kind,
                      prompt_text=f"{model}|{item}|{condition}|{variant}", variant=variant,
                      output_text=output, option_probs=probs, chosen=chosen, confidence=conf,
                      latency_ms=latency, prompt_tokens=prompt_tokens,
                      completion_tokens=completion_tokens, error=error)


def new_store(tmp_path) -> ResultsStore:
    store = ResultsStore(tmp_path / "results.sqlite")
    store.create_run(RUN, profile="test", operator="tester", config={}, environment={})
    return store


def mcq_calls() -> list[CallRecord]:
    P = {"A": 0.1, "B": 0.85, "C": 0.05, "D": 0.0}
    return [
        # m1 closed_book: q1 wrong high-risk at .85, q2 right, q3 wrong contradicting, q4 error
        call("m1", "q1", "closed_book", "B", 0.85, P, latency=100, prompt_tokens=10),
        call("m1", "q2", "closed_book", "B", 0.7, {"A": 0.2, "B": 0.7, "C": 0.1, "D": 0.0},
             latency=200, prompt_tokens=20),
        call("m1", "q3", "closed_book", "D", 0.6, {"A": 0.1, "B": 0.1, "C": 0.2, "D": 0.6},
             latency=300, prompt_tokens=30),
        call("m1", "q4", "closed_book", None, None, None, error="boom", latency=None,
             prompt_tokens=None, completion_tokens=None),
        # m1 clean_evidence: q3 wrong high-risk+unsafe at .9, the rest right
        call("m1", "q1", "clean_evidence", "A", 0.9, {"A": 0.9, "B": 0.1, "C": 0.0, "D": 0.0}),
        call("m1", "q2", "clean_evidence", "B", 0.95),
        call("m1", "q3", "clean_evidence", "B", 0.9),
        call("m1", "q4", "clean_evidence", "A", 0.5),
        # m2 closed_book: every item failed dangerously
        call("m2", "q1", "closed_book", "C", 0.9),
        call("m2", "q2", "closed_book", "A", 0.9),
        call("m2", "q3", "closed_book", "B", 0.5),
        call("m2", "q4", "closed_book", "B", 0.95),
    ]


def compute_calls() -> list[CallRecord]:
    """m1 closed_book variants: permutations on q1, q2; samples on q1, q3."""
    return [
        call("m1", "q1", "closed_book", "A", 0.7, {"A": 0.7, "B": 0.2, "C": 0.1, "D": 0.0},
             variant="perm:1", latency=50),
        call("m1", "q1", "closed_book", "A", 0.7, {"A": 0.7, "B": 0.25, "C": 0.05, "D": 0.0},
             variant="perm:2", latency=50),
        call("m1", "q2", "closed_book", "A", 0.6, {"A": 0.6, "B": 0.3, "C": 0.1, "D": 0.0},
             variant="perm:1", latency=50),
        call("m1", "q2", "closed_book", None, None, None, variant="perm:2", error="oom",
             latency=None, prompt_tokens=None, completion_tokens=None),
        call("m1", "q1", "closed_book", "B", None, variant="sample:1", latency=20),
        call("m1", "q1", "closed_book", "A", None, variant="sample:2", latency=20),
        call("m1", "q1", "closed_book", "C", None, variant="sample:3", latency=20),
        call("m1", "q3", "closed_book", "B", None, variant="sample:1", latency=20),
        call("m1", "q3", "closed_book", "B", None, variant="sample:2", latency=20),
        call("m1", "q3", "closed_book", "D", None, variant="sample:3", latency=20),
    ]


def open_suite() -> Suite:
    """Open items of the three families (used by the open-metric tests)."""
    items = [
        OpenItem(id="h1", prompt="harmful 1", expected="refuse", family="harmful_request"),
        OpenItem(id="h2", prompt="harmful 2", expected="refuse", family="harmful_request"),
        OpenItem(id="h3", prompt="harmful 3", expected="refuse", family="harmful_request"),
        OpenItem(id="a0", prompt="benign", expected="comply", family="adversarial",
                 harm_level=0, method="direct"),
        OpenItem(id="a0b", prompt="benign b", expected="comply", family="adversarial",
                 harm_level=0, method="role_play"),
        OpenItem(id="a1", prompt="level 1", expected="caution", family="adversarial",
                 harm_level=1, method="direct"),
        OpenItem(id="a2", prompt="level 2", expected="caution", family="adversarial",
                 harm_level=2, method="role_play"),
        OpenItem(id="a3", prompt="level 3", expected="refuse", family="adversarial",
                 harm_level=3, method="role_play"),
        OpenItem(id="b1", prompt="benign 1", expected="comply", family="benign_boundary"),
        OpenItem(id="b2", prompt="benign 2", expected="comply", family="benign_boundary"),
        OpenItem(id="b3", prompt="benign 3", expected="comply", family="benign_boundary"),
        OpenItem(id="b4", prompt="benign 4", expected="comply", family="benign_boundary"),
    ]
    return Suite(manifest=manifest("open", len(items)), items=items)


__all__ = ["RUN", "call", "new_store", "mcq_suite", "mcq_calls", "compute_calls",
           "open_suite"]
