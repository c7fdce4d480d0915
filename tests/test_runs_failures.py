"""A run fails loudly: every call failing is `failed` with a non-zero exit, a full disk is
`interrupted` with one line that says how to resume, and the resume completes with the
figures an uninterrupted run gives. Real tiny ONNX model, real SQLite store."""
from __future__ import annotations

import errno

import pytest

from engine.cli.main import main
from engine.runs.executor import create_run, execute_run
from engine.figures import run_figures
from engine.runs.results import headline_rows
from engine.store.db import ResultsStore
from engine.suites.io import write_suite
from engine.suites.schema import McqItem

LETTERS = "ABCD"


def _mcq(i: int, evidence_words: int) -> McqItem:
    answer = LETTERS[i % 4]
    wrong = [x for x in LETTERS if x != answer]
    return McqItem(id=f"q{i:03d}", question=f"Which finding number {i} is expected?",
                   options={x: f"finding {x.lower()} {i}" for x in LETTERS}, answer=answer,
                   option_labels={wrong[0]: ["high_risk"]},
                   clean_evidence=" ".join(["supporting"] * evidence_words) + ".", topic="t")


def _suite(root, n: int, evidence_words: int = 3):
    return write_suite(root / f"mcq-{evidence_words}", id=f"t-mcq-{evidence_words}",
                       name="test", version="1.0.0",
                       items=[_mcq(i, evidence_words) for i in range(n)], license="t",
                       source="t")


def _create(ws, store, name, suite, **overrides):
    base = {"batch_size": 1, "item_limit": None}
    base.update(overrides)
    return create_run(ws, store, models=[name], suites=[suite.path],
                      conditions="closed_book,clean_evidence", profile="smoke",
                      overrides=base)


def test_a_run_whose_every_call_fails_is_failed_and_exits_non_zero(tiny_model_ws, tmp_path,
                                                                   capsys):
    ws, name = tiny_model_ws
    suite = _suite(tmp_path, 3, evidence_words=5000)   # every prompt is over the context
    code = main(["--home", str(ws.home), "run", "--models", name, "--suites", suite.path,
                 "--conditions", "clean_evidence", "--profile", "smoke"])
    _, err = capsys.readouterr()
    assert code == 1, err
    assert "failed: 3 of 3 calls failed" in err and "tokens" in err and "Traceback" not in err
    store = ResultsStore(ws.db_path)
    (run,) = store.list_runs()
    assert run.status == "failed" and "3 of 3" in run.summary.failure


def test_a_few_failed_calls_still_complete(tiny_model_ws, tmp_path):
    ws, name = tiny_model_ws
    store = ResultsStore(ws.db_path)
    items = [_mcq(i, 3) for i in range(5)] + [_mcq(9, 5000)]
    suite = write_suite(tmp_path / "mixed", id="mixed", name="m", version="1.0.0",
                        items=items, license="t", source="t")
    run_id = _create(ws, store, name, suite)
    outcome = execute_run(ws, store, run_id)
    assert outcome.status == "completed" and outcome.errors == 1 and outcome.failure is None


def test_disk_full_interrupts_the_run_and_resume_gives_identical_figures(tiny_model_ws,
                                                                          tmp_path, capsys):
    ws, name = tiny_model_ws
    suite = _suite(tmp_path, 8)
    reference_store = ResultsStore(ws.db_path)
    reference = _create(ws, reference_store, name, suite)
    assert execute_run(ws, reference_store, reference).status == "completed"
    reference_store.close()

    store = ResultsStore(ws.db_path)
    run_id = _create(ws, store, name, suite)
    # SQLite's own limit on the file's size: the store hits the real SQLITE_FULL path
    # ("database or disk is full") a few calls into the run.
    pages, _ = store.page_limit()
    store.page_limit(pages + 2)
    code = None
    from engine.errors import DiskFullError
    with pytest.raises(DiskFullError) as caught:
        execute_run(ws, store, run_id)
    assert "disk full" in str(caught.value) and f"--resume {run_id}" in str(caught.value)
    stored = len(store.calls(run_id))
    assert 0 < stored < 16
    store.close()

    fresh = ResultsStore(ws.db_path)
    assert fresh.get_run(run_id).status == "interrupted"
    code = main(["--home", str(ws.home), "run", "--resume", run_id])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(fresh.calls(run_id)) == 16
    assert fresh.get_run(run_id).status == "completed"

    def figures(rid):
        return [{k: v for k, v in row.items() if not k.startswith("latency")}
                for row in headline_rows(run_figures(fresh, rid))]
    assert figures(run_id) == figures(reference)


def test_disk_full_from_the_operating_system_is_one_line(capsys):
    """A real ENOSPC (writing to /dev/full) through the one error boundary."""
    from engine.failures import explain
    try:
        with open("/dev/full", "w") as fh:
            fh.write("x")
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
        failure = explain(exc)
    else:  # pragma: no cover - every Linux has /dev/full
        pytest.skip("/dev/full did not refuse the write")
    assert failure.message.startswith("disk full") and failure.exit_code == 1
    assert "\n" not in failure.message


def test_an_unexpected_error_is_one_line_pointing_at_the_log(workspace, monkeypatch, capsys):
    """A bug is not the user's to read: one line, the traceback in the workspace log."""
    import typer

    from engine.cli import main as main_mod

    probe = typer.Typer()

    @probe.command()
    def boom() -> None:
        raise ZeroDivisionError("bug")

    @probe.command()
    def other() -> None:
        pass

    monkeypatch.setattr(main_mod, "app", probe)
    (workspace.home / "logs").mkdir()
    assert main_mod.main(["boom"]) == 1
    err = capsys.readouterr().err
    assert "unexpected internal error (ZeroDivisionError: bug)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    log = workspace.home / "logs" / "safevet-errors.log"
    assert str(log) in err and "Traceback (most recent call last)" in log.read_text()
