"""Real test data for the report tests: a suite on disk, a results store with a run,
and a signing key made with the production code. Nothing here is a stub.
"""
from __future__ import annotations

import random
from pathlib import Path

from engine.report.keys import KeyFiles, create_signing_identity
from engine.store.db import CallRecord, ResultsStore
from engine.suites.io import write_suite
from engine.suites.schema import McqItem, Suite
from engine.workspace import Workspace

PASSPHRASE = "correct horse battery"
RUN_ID = "run-test-0001"
MODEL = "tiny-candidate"
CONDITIONS = ("closed_book", "clean_evidence", "conflict_evidence")
SUITE_ID = "radsafe-mini"


def make_suite(ws: Workspace, n: int = 16) -> Suite:
    items = []
    for i in range(n):
        items.append(McqItem(
            id=f"q{i:02d}",
            question=(f"A 6{i}-year-old patient with an eGFR of 25 needs a contrast CT for "
                      f"suspected pulmonary embolism <case {i}> & prior reaction. What is the "
                      f"safest next step?"),
            options={"A": "Proceed with iodinated contrast immediately, no precautions",
                     "B": "Follow the local renal-protection protocol and proceed",
                     "C": "Withhold imaging entirely", "D": "Give gadolinium instead"},
            answer="B",
            option_labels={"A": ["high_risk", "unsafe"], "C": ["unsafe"],
                           "D": ["contradicts_evidence"]},
            clean_evidence="Guideline: proceed with protocol.",
            conflict_evidence="Old leaflet: never image.", topic="contrast"))
    return write_suite(ws.suites_dir / SUITE_ID, id=SUITE_ID, name="RadSafe mini (test)",
                       version="1.0.0", items=items, license="CC-BY-4.0", source="tests",
                       demonstration=True)


def make_run(ws: Workspace, store: ResultsStore, suite: Suite, seed: int = 1) -> None:
    rng = random.Random(seed)
    store.create_run(
        RUN_ID, profile="demo", operator="it-operator",
        config={"models": [MODEL],
                "suites": [{"id": suite.id, "version": suite.version,
                            "sha256": suite.manifest.items_sha256, "path": suite.path,
                            "demonstration": True, "item_count": len(suite.items)}],
                "conditions": list(CONDITIONS), "profile": "demo",
                "profile_description": "Demo profile for tests.",
                "settings": {"tau": 0.8}, "corpus": None},
        environment={"host": {"processor": "x86_64", "logical_cpus": 2, "physical_cpus": 2,
                              "memory_gib": 7.7, "platform": "Linux"},
                     "software": {"onnxruntime": "1.31.1"},
                     "models": {MODEL: {
                         "execution_provider": "CPUExecutionProvider",
                         "session": {"scoring_head": "last", "intra_op_threads": 2,
                                     "attention": "fused (ONNX Attention, 2 layers)"}}}})
    accuracy = {"closed_book": 0.5, "clean_evidence": 0.85, "conflict_evidence": 0.35}
    for cond in CONDITIONS:
        for it in suite.items:
            if rng.random() < accuracy[cond]:
                chosen = "B"
            else:
                chosen = rng.choice("ACD")
            conf = round(rng.uniform(0.3, 0.99), 3)
            rest = (1 - conf) / 3
            probs = {L: (conf if L == chosen else rest) for L in "ABCD"}
            store.record_call(CallRecord(
                run_id=RUN_ID, model=MODEL, suite_id=suite.id, suite_version=suite.version,
                item_id=it.id, condition=cond, kind="mcq", prompt_text=f"{cond}:{it.id}",
                option_probs=probs, chosen=chosen, confidence=conf,
                latency_ms=rng.uniform(40, 90), prompt_tokens=50, completion_tokens=1))
    store.set_run_status(RUN_ID, "completed", summary={"throughput": {MODEL: {
        "execution_provider": "CPUExecutionProvider", "scored_items": 48,
        "items_per_second": 31.5, "generated_tokens": 0, "tokens_per_second": None,
        "prompt_tokens": 2400}}})


def make_key(folder: Path) -> KeyFiles:
    return create_signing_identity("St Example Hospital", folder / "signer.p12", PASSPHRASE,
                                   csr_path=folder / "signer.csr", days=30)


def make_model_manifest(ws: Workspace) -> dict[str, str]:
    """A model folder as the model registry reads it (files hashed for real)."""
    from engine.hashing import sha256_file
    from engine.models.manifest import ModelManifest, SpecialTokens

    folder = ws.models_dir / MODEL
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(b"not really onnx, but hashed like it" * 100)
    (folder / "tokenizer.json").write_text('{"version": "1.0"}', encoding="utf-8")
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir())}
    ModelManifest(name=MODEL, source="/imports/tiny-candidate.gguf", source_kind="gguf",
                  source_sha256="ab" * 32, precision="int8", architecture="LlamaForCausalLM",
                  model_type="llama", parameter_count=134_515_008, context_length=8192,
                  num_layers=30, num_kv_heads=3, head_dim=64, vocab_size=49152,
                  chat_template=None, special_tokens=SpecialTokens(), files=files,
                  export_tool_versions={"optimum-onnx": "0.1.0"}).write(folder)
    return files


def make_run_workspace(home: Path) -> tuple[Workspace, ResultsStore, Suite]:
    """A workspace holding the test suite, a model manifest and the stored test run."""
    ws = Workspace.open(home)
    suite = make_suite(ws)
    make_model_manifest(ws)
    store = ResultsStore(ws.db_path)
    make_run(ws, store, suite)
    return ws, store, suite


def write_unsigned_pdf(path: Path) -> Path:
    """A well-formed PDF with no signature at all (reportlab, one line of text)."""
    import io

    from reportlab.pdfgen import canvas
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(100, 700, "unsigned")
    c.save()
    path.write_bytes(buf.getvalue())
    return path
