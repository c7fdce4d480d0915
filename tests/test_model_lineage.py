"""Model lineage (issue 20 part 2): versions registered over alignment cycles keep their
order, the registry shows them, and the cycle table lists each version's figures."""
from __future__ import annotations

import json
import sqlite3

import pytest

from engine.errors import NotFoundError, SafeVetError
from engine.models.lineage import lineage_entry, lineage_of, set_version_of
from engine.store.db import ResultsStore
from tests.compare_fixtures import (A_CHOICES, A_OPEN, B_CHOICES, B_OPEN, JUDGE, RUN,
                                    agreement, create_run, mcq_suite, open_suite, record_mcq,
                                    record_open, write_model_folder)

CYCLES = ["med-v0", "med-kto1", "med-kto2"]


def test_lineage_order_is_kept_over_three_versions(workspace):
    for name in [*CYCLES, "med-dpo1", "other"]:
        write_model_folder(workspace, name)
    # Registered out of order: cycle 2 first, the root last; a sibling of cycle 1 after.
    set_version_of(workspace, "med-kto1", "med-v0", "KTO cycle 1")
    set_version_of(workspace, "med-kto2", "med-kto1", "KTO cycle 2")
    set_version_of(workspace, "med-v0", None, "base model")
    set_version_of(workspace, "med-dpo1", "med-v0", "DPO instead")
    chain = lineage_of(workspace, "med-kto2")
    assert [(e.name, e.cycle, e.note) for e in chain] == [
        ("med-v0", 0, "base model"), ("med-kto1", 1, "KTO cycle 1"),
        ("med-kto2", 2, "KTO cycle 2"), ("med-dpo1", 1, "DPO instead")]
    assert lineage_of(workspace, "med-dpo1") == chain     # one lineage, whoever asks
    assert lineage_of(workspace, "other") == []
    assert lineage_entry(workspace, "med-kto2").parent == "med-kto1"


def test_bad_lineages_are_refused(workspace):
    for name in CYCLES:
        write_model_folder(workspace, name)
    set_version_of(workspace, "med-kto1", "med-v0")
    set_version_of(workspace, "med-kto2", "med-kto1")
    with pytest.raises(SafeVetError, match="would make a loop"):
        set_version_of(workspace, "med-v0", "med-kto2")
    with pytest.raises(SafeVetError, match="cannot be a version of itself"):
        set_version_of(workspace, "med-v0", "med-v0")
    with pytest.raises(NotFoundError, match="no model named 'nope'"):
        set_version_of(workspace, "med-v0", "nope")
    with pytest.raises(SafeVetError, match="--note is"):
        set_version_of(workspace, "med-v0", None, "x" * 501)


def test_removing_a_model_forgets_its_own_lineage(workspace):
    from engine.models.registry import remove_model
    for name in CYCLES[:2]:
        write_model_folder(workspace, name)
    set_version_of(workspace, "med-kto1", "med-v0", "KTO cycle 1")
    remove_model(workspace, "med-kto1")
    assert lineage_entry(workspace, "med-kto1") is None
    write_model_folder(workspace, "med-kto1")              # a new model of the same name
    assert lineage_entry(workspace, "med-kto1") is None


def test_store_of_schema_2_gains_the_lineage_table(tmp_path):
    """A store written before lineage existed is brought forward, its runs kept."""
    from engine.store.db import _split_sql
    from engine.store.migrations import MIGRATIONS
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        for stmt in _split_sql(script):
            conn.execute(stmt)
    conn.execute("INSERT INTO runs (id, created_at, status, profile, operator, config_json, "
                 "environment_json) VALUES ('old-run', '2026-01-01', 'completed', 'demo', "
                 "'it', '{}', '{}')")
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    store = ResultsStore(path)
    assert store.schema_version == len(MIGRATIONS) >= 3
    assert store.get_run("old-run").status == "completed"
    from engine.store.lineage import lineage_records, record_lineage
    record_lineage(store, "m1", "m0", "cycle 1")
    assert [(r.name, r.parent) for r in lineage_records(store)] == [("m1", "m0")]


def _exported_folder(root, name):
    """A real exported model folder (a tiny ONNX graph with input_ids -> logits and a real
    tokenizer), built by hand: `models add-exported` hash-checks and parses both."""
    import onnx
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    from engine.hashing import sha256_file
    from engine.models.manifest import ModelManifest, SpecialTokens

    folder = root / name
    folder.mkdir()
    graph = helper.make_graph(
        [helper.make_node("Cast", ["input_ids"], ["logits"], to=TensorProto.FLOAT)], "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, None])])
    onnx.save(helper.make_model(graph), str(folder / "model.onnx"))
    Tokenizer(WordLevel({"[UNK]": 0, "hello": 1}, unk_token="[UNK]")).save(
        str(folder / "tokenizer.json"))
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir())}
    ModelManifest(name=name, source=str(folder), source_kind="hf_folder",
                  source_sha256="cd" * 32, precision="fp32", architecture="LlamaForCausalLM",
                  model_type="llama", parameter_count=1, context_length=64, num_layers=1,
                  num_kv_heads=1, head_dim=1, vocab_size=2, chat_template=None,
                  special_tokens=SpecialTokens(), files=files,
                  export_tool_versions={}).write(folder)
    return folder


def test_cli_registers_and_shows_a_lineage(workspace, tmp_path, capsys):
    from engine.cli.main import main
    home = str(workspace.home)
    for name in CYCLES:
        _exported_folder(tmp_path, name)
    assert main(["--home", home, "models", "add-exported", str(tmp_path / "med-v0"),
                 "--note", "base"]) == 0
    assert main(["--home", home, "models", "add-exported", str(tmp_path / "med-kto1"),
                 "--version-of", "med-v0", "--note", "KTO cycle 1"]) == 0
    assert main(["--home", home, "models", "add-exported", str(tmp_path / "med-kto2"),
                 "--version-of", "med-kto1", "--note", "KTO cycle 2"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "lineage: cycle 2, version of med-kto1: KTO cycle 2" in out
    # A --version-of naming no model is refused before anything is registered.
    (tmp_path / "x").mkdir()
    _exported_folder(tmp_path / "x", "med-kto3")
    assert main(["--home", home, "models", "add-exported", str(tmp_path / "x" / "med-kto3"),
                 "--version-of", "med-kto9"]) == 2
    assert "no model named 'med-kto9'" in capsys.readouterr().err
    assert not (workspace.models_dir / "med-kto3").exists()
    # `models import` checks --version-of before the (slow, torch) export starts.
    assert main(["--home", home, "models", "import", str(tmp_path / "x"), "--name", "med-kto3",
                 "--version-of", "med-kto9", "--note", "KTO cycle 3"]) == 2
    assert "no model named 'med-kto9'" in capsys.readouterr().err

    assert main(["--home", home, "models", "list"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    col = rows[0].index("lineage")
    assert {r[0]: r[col] for r in rows[1:]} == {
        "med-kto1": "cycle 1, version of med-v0: KTO cycle 1",
        "med-kto2": "cycle 2, version of med-kto1: KTO cycle 2",
        "med-v0": "cycle 0 (first version): base"}
    assert main(["--home", home, "models", "show", "med-kto1"]) == 0
    out = capsys.readouterr().out
    assert "lineage\tmed-v0 (base) → med-kto1 (KTO cycle 1) → med-kto2 (KTO cycle 2)" in out
    assert main(["--home", home, "models", "show", "med-kto2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in doc["lineage"]] == CYCLES
    assert main(["--home", home, "models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert {m["manifest"]["name"]: (m["lineage"] or {}).get("parent") for m in listed} == {
        "med-v0": None, "med-kto1": "med-v0", "med-kto2": "med-kto1"}


def _cycle_run(ws):
    """One run answering the lineage's three versions: v0 answers like cand-a, kto1 like
    cand-b, kto2 like cand-b but also refusing the benign b0 (the cost of alignment)."""
    for name in CYCLES:
        write_model_folder(ws, name)
    set_version_of(ws, "med-kto1", "med-v0", "KTO cycle 1")
    set_version_of(ws, "med-kto2", "med-kto1", "KTO cycle 2")
    store = ResultsStore(ws.db_path)
    mcq, opn = mcq_suite(ws), open_suite(ws)
    create_run(store, RUN, CYCLES, [mcq, opn])
    record_mcq(store, RUN, "med-v0", mcq, A_CHOICES)
    record_mcq(store, RUN, "med-kto1", mcq, B_CHOICES)
    record_mcq(store, RUN, "med-kto2", mcq, {})
    record_open(store, RUN, "med-v0", opn, A_OPEN)
    record_open(store, RUN, "med-kto1", opn, B_OPEN)
    record_open(store, RUN, "med-kto2", opn, {**B_OPEN, "h3": B_OPEN["h0"], "b0": B_OPEN["h0"]})
    store.record_judge_validation(RUN, agreement(JUDGE, 0.8))
    return store


def test_cycle_table_in_lineage_order(workspace, capsys):
    from engine.cli.main import main
    from engine.compare.lineage import lineage_comparison
    store = _cycle_run(workspace)
    t = lineage_comparison(store, workspace, "med-kto1", [RUN], n_boot=200)
    assert [(c.cycle, c.model) for c in t.cycles] == [(0, "med-v0"), (1, "med-kto1"),
                                                      (2, "med-kto2")]
    handling = [c.harmful_query_handling.value for c in t.cycles]
    refusal = [c.erroneous_refusal_rate.value for c in t.cycles]
    assert handling == [0.5, 0.75, 1.0] and refusal == [0.5, 0.0, 0.5]
    assert [c.high_risk_error_rate.value for c in t.cycles] == [2 / 12, 1 / 12, 0.0]
    assert all(c.judge == JUDGE and c.judge_reliance.passes_gate for c in t.cycles)
    assert [(s.parent, s.model) for s in t.steps] == [("med-v0", "med-kto1"),
                                                      ("med-kto1", "med-kto2")]
    assert t.steps[1].comparison.flipped_ids("became_safe") == ["h3", "q05"]
    assert main(["--home", str(workspace.home), "compare", RUN, "--lineage", "med-v0"]) == 0
    out = capsys.readouterr().out
    lines = [line.split("\t") for line in out.splitlines() if "\t" in line]
    assert [r[1] for r in lines[1:]] == CYCLES
    assert lines[1][4].startswith("50.0") and lines[3][5].startswith("50.0")
    assert "med-kto2 vs med-kto1: became dangerous none; became safe h3, q05" in \
        " ".join(out.split())
    assert main(["--home", str(workspace.home), "compare", RUN, "--lineage", "unknown"]) == 2
