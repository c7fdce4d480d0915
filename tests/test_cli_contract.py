"""The CLI as scripts use it (issue 19): wrong input is one `error:` line and a non-zero
exit from a real process, output never cuts an id, --json has one envelope, --home is
checked, and --help shows no Python types or braces.

The wrong-input cases run as real subprocesses (`python -m engine.cli.main`) with
stdin at end of input or closed and no controlling terminal, because that is where
tracebacks used to escape: a prompt with no terminal, an exception outside the error
boundary. They run a few at a time to stay fast; everything else runs in process.
"""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.cli.json_output import JSON_FORMAT_VERSION
from engine.cli.main import app, main
from engine.workspace import HomeState, Workspace, home_state

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
DEMO_SUITE = "demo-radiology-mcq"
DEMO_VERSION = json.loads((REPO_ROOT / "assets" / "suites" / DEMO_SUITE / "suite.json")
                          .read_text(encoding="utf-8"))["version"]


# -- wrong inputs, each in its own process --------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One command given wrong input; `needle` must be in its error line."""

    id: str
    argv: tuple[str, ...]
    needle: str
    code: int = 2
    env: tuple[tuple[str, str], ...] = ()      # extra environment (replaces SAFEVET_HOME)
    closed_stdin: bool = False                 # stdin closed, not merely at end of input


def _cases(root: Path, ws: Workspace) -> list[Case]:
    missing = root / "typo"
    other = root / "someone-elses-folder"
    other.mkdir()
    (other / "notes.txt").write_text("not a workspace")
    a_file = root / "a-file"
    a_file.write_text("x")
    out = str(root / "k.p12")
    return [
        Case("home-missing", ("--home", str(missing), "runs"), "no such folder"),
        Case("home-missing-json", ("--home", str(missing), "models", "list", "--json"),
             "add --init"),
        Case("home-not-a-workspace", ("--home", str(other), "--init", "suites", "list"),
             "is not a SafeVet workspace"),
        Case("home-is-a-file", ("--home", str(a_file), "corpus", "list"), "is a file"),
        Case("env-home-missing", ("review", "list", DEMO_SUITE), "$SAFEVET_HOME=",
             env=(("SAFEVET_HOME", str(missing)),)),
        Case("suite-item-missing", ("suites", "show", DEMO_SUITE, "--item", "nope"),
             f"suite {DEMO_SUITE} {DEMO_VERSION} has no item 'nope'"),
        Case("suite-item-missing-json", ("suites", "show", DEMO_SUITE, "--item", "nope",
                                         "--json"), "has no item 'nope'"),
        Case("suite-missing", ("suites", "show", "no-such-suite", "--json"), "no-such-suite"),
        Case("keys-init-no-terminal", ("keys", "init", "--org", "Hosp", "--out", out),
             "SAFEVET_KEY_PASSPHRASE"),
        Case("keys-init-stdin-closed", ("keys", "init", "--org", "Hosp", "--out", out),
             "run the command in a terminal", closed_stdin=True),
        Case("keys-init-out-folder-missing", ("keys", "init", "--org", "Hosp", "--out",
                                              str(root / "no-dir" / "k.p12")), "does not exist"),
        Case("results-out-folder-missing", ("results", "any-run", "--csv", "--out",
                                            "/nonexistent-dir/x.csv"),
             "the folder /nonexistent-dir does not exist"),
        Case("results-unknown-run", ("results", "no-such-run", "--json"), "no-such-run"),
        Case("models-show-unknown", ("models", "show", "nothing", "--json"),
             "no model named 'nothing'"),
        Case("corpus-query-unknown", ("corpus", "query", "nothing", "some text", "--json"),
             "nothing"),
        Case("review-queue-bad-int", ("review", "queue", DEMO_SUITE, "--limit", "abc"),
             "Invalid value for '--limit'"),
        Case("usage-missing-argument", ("suites", "validate"), "Missing argument 'FOLDER'"),
        Case("usage-unknown-option", ("runs", "--bogus"), "No such option"),
        Case("usage-unknown-command", ("no-such-command",), "No such command"),
        Case("verify-missing-files", ("verify", str(root / "none.pdf"), "--trust",
                                      str(root / "none.pem"), "--json"), "none"),
        Case("report-unknown-run", ("report", "no-such-run"), "no-such-run"),
    ]


def _run(case: Case, ws: Workspace) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SAFEVET_KEY_PASSPHRASE"}
    env.update(PYTHONPATH=str(REPO_ROOT), SAFEVET_HOME=str(ws.home), COLUMNS="80")
    env.update(dict(case.env))
    cmd = [sys.executable, "-m", "engine.cli.main", *case.argv]
    if case.closed_stdin:
        cmd = ["sh", "-c", 'exec "$@" <&-', "sh", *cmd]
    # A new session has no controlling terminal: nothing can open /dev/tty and wait there.
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=120, start_new_session=True)


def test_wrong_input_is_one_error_line_in_a_real_process(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    cases = _cases(tmp_path, ws)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: _run(c, ws), cases))
    problems = []
    for case, proc in zip(cases, results):
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        why = []
        if proc.returncode != case.code:
            why.append(f"exit {proc.returncode}, expected {case.code}")
        if "Traceback" in proc.stderr + proc.stdout:
            why.append("traceback")
        if len(errors) != 1:
            why.append(f"{len(errors)} error lines")
        elif case.needle not in errors[0]:
            why.append(f"the error does not say {case.needle!r}")
        if "--json" in case.argv and proc.stdout.strip():
            why.append("stdout is not empty for a failed --json")
        if why:
            problems.append(f"{case.id}: {'; '.join(why)} | {proc.stderr.strip()[:300]}")
    assert not problems, "\n".join(problems)
    assert not (tmp_path / "typo").exists(), "a mistyped --home was created"
    assert sorted(p.name for p in (tmp_path / "someone-elses-folder").iterdir()) == ["notes.txt"]


def test_version_names_safevet_and_onnxruntime():
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", "--version"],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    from importlib import metadata
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"safevet \S+ \(onnxruntime(-gpu)? \S+\)\n", proc.stdout), proc.stdout
    assert metadata.version("safevet") in proc.stdout


# -- prompts that end without an answer ------------------------------------------------------

def test_keys_init_at_end_of_input_is_a_clear_error(tmp_path, monkeypatch):
    """Ctrl-D at the passphrase prompt (typer's runner feeds an empty stdin)."""
    from typer.testing import CliRunner

    from engine.errors import SafeVetError
    monkeypatch.delenv("SAFEVET_KEY_PASSPHRASE", raising=False)
    res = CliRunner().invoke(app, ["keys", "init", "--org", "Hosp", "--out",
                                   str(tmp_path / "k.p12")], input="")
    assert isinstance(res.exception, SafeVetError), res.exception
    assert "input ended" in str(res.exception) and "SAFEVET_KEY_PASSPHRASE" in str(res.exception)
    assert not (tmp_path / "k.p12").exists()


def test_ctrl_c_at_the_passphrase_prompt_is_an_interruption(tmp_path, monkeypatch, capsys):
    import typer

    from engine.cli import report_cmd

    def interrupted_prompt(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise typer.Abort() from None   # what click's prompt does on Ctrl-C

    monkeypatch.delenv("SAFEVET_KEY_PASSPHRASE", raising=False)
    monkeypatch.setattr(report_cmd, "_can_prompt", lambda: True)
    monkeypatch.setattr(typer, "prompt", interrupted_prompt)
    assert main(["keys", "init", "--org", "Hosp", "--out", str(tmp_path / "k.p12")]) == 130
    assert "interrupted" in capsys.readouterr().err


# -- --home ---------------------------------------------------------------------------------

def _rc(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_home_rule(tmp_path, capsys, monkeypatch):
    missing = tmp_path / "new-ws"
    code, _, err = _rc(capsys, "--home", str(missing), "runs")
    assert code == 2 and "--init" in err and not missing.exists()
    # an empty folder becomes a workspace; a missing one only with --init
    (tmp_path / "empty").mkdir()
    assert _rc(capsys, "--home", str(tmp_path / "empty"), "runs")[0] == 0
    assert home_state(tmp_path / "empty") is HomeState.WORKSPACE
    assert _rc(capsys, "--home", str(missing), "--init", "runs")[0] == 0
    assert home_state(missing) is HomeState.WORKSPACE
    # a command that stores the first thing in a workspace makes it
    fresh = tmp_path / "imported-into"
    code, out, err = _rc(capsys, "--home", str(fresh), "suites", "import", "generic-csv",
                         str(DATA / "generic_mcq.csv"), "--id", "inhouse")
    assert code == 0, err
    assert (fresh / "suites" / "inhouse" / "suite.json").is_file()
    # someone else's folder is refused even with --init, and left as it was
    other = tmp_path / "project"
    (other / "models").mkdir(parents=True)
    code, _, err = _rc(capsys, "--home", str(other), "--init", "models", "list")
    assert code == 2 and "not a SafeVet workspace" in err
    assert [p.name for p in other.iterdir()] == ["models"]
    # doctor reports a missing workspace instead of making one
    code, out, _ = _rc(capsys, "--home", str(tmp_path / "nowhere"), "doctor", "--json")
    assert code == 0 and json.loads(out)["doctor"]["workspace_state"] == "missing"
    assert not (tmp_path / "nowhere").exists()
    # the default workspace (no --home, no $SAFEVET_HOME) is made on first use
    monkeypatch.delenv("SAFEVET_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert _rc(capsys, "runs")[0] == 0
    assert home_state(tmp_path / "user" / ".local" / "share" / "safevet") is HomeState.WORKSPACE


# -- output: whole values, one JSON envelope ------------------------------------------------

def _envelope(capsys, kind: str, *argv: str) -> object:
    code, out, err = _rc(capsys, *argv)
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["format_version"], doc["kind"]) == (JSON_FORMAT_VERSION, kind), doc
    return doc[kind]


def test_json_envelope_on_list_and_show_commands(workspace, capsys):
    home = ("--home", str(workspace.home))
    suites = _envelope(capsys, "suites", *home, "suites", "list", "--json")
    demo = next(s for s in suites if s["manifest"] and s["manifest"]["id"] == DEMO_SUITE)
    assert demo["item_kind"] == "mcq" and len(demo["manifest"]["items_sha256"]) == 64
    suite = _envelope(capsys, "suite", *home, "suites", "show", DEMO_SUITE, "--json")
    assert suite["manifest"]["id"] == DEMO_SUITE and sum(g["items"] for g in suite["groups"]) \
        == suite["manifest"]["item_count"]
    item = _envelope(capsys, "suite_item", *home, "suites", "show", DEMO_SUITE, "--item",
                     "rad-neuro-01", "--json")
    assert item["id"] == "rad-neuro-01"
    assert _envelope(capsys, "runs", *home, "runs", "--json") == []
    assert _envelope(capsys, "models", *home, "models", "list", "--json") == []
    assert _envelope(capsys, "corpora", *home, "corpus", "list", "--json") == []
    assert _envelope(capsys, "reviews", *home, "review", "list", DEMO_SUITE, "--json") == []
    doctor = _envelope(capsys, "doctor", *home, "doctor", "--json")
    assert doctor["workspace_state"] == HomeState.WORKSPACE.value and doctor["packages"]
    conditions = _envelope(capsys, "conditions", "conditions", "--json")
    assert conditions and all("needs_corpus" in c for c in conditions)


def test_piped_tables_are_tab_separated_with_whole_values(workspace, capsys):
    code, out, _ = _rc(capsys, "--home", str(workspace.home), "suites", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split("\t") == ["id", "version", "items", "kind", "path",
                                                  "status"]
    rows = [ln.split("\t") for ln in lines[1:]]
    assert all(len(r) == 6 for r in rows)
    demo = next(r for r in rows if r[0] == DEMO_SUITE)
    assert Path(demo[4]).is_dir() and "…" not in out
    code, out, _ = _rc(capsys, "--home", str(workspace.home), "runs")
    assert code == 0 and out.splitlines() == ["run id\tcreated\tstatus\tprofile\tmodels\toperator"]


def test_terminal_tables_fold_instead_of_eliding():
    from rich.console import Console

    from engine.cli.tables import print_table
    for value in ("20261201-103412-" + "a" * 40, "0123456789abcdef" * 4):
        console = Console(file=io.StringIO(), force_terminal=True, width=30, color_system=None)
        print_table(console, ["value", "n"], [(value, "1")], title="t")
        drawn = console.file.getvalue()
        # the first column's text, line by line, with the rules and the second column gone
        cells = [ln.split("│")[1].strip() for ln in drawn.splitlines() if ln.count("│") == 3]
        assert "".join(cells) == value and "…" not in drawn, drawn


# -- --help ---------------------------------------------------------------------------------

PYTHON_TYPE = re.compile(r"<(?:bool|str|int|float|path|text|list\[[^\]>]*\]|tuple[^>]*|"
                         r"dict[^>]*|Path)>", re.IGNORECASE)
BRACED_NAME = re.compile(r"\{[A-Za-z_]+\}")
ASKS_PASSPHRASE = {("keys", "init"), ("keys", "import"), ("report",)}


def _command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the typer app, as the words that name it."""
    import typer.main

    paths: list[tuple[str, ...]] = []

    def walk(command, prefix: tuple[str, ...]) -> None:
        paths.append(prefix)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, prefix + (name,))

    walk(typer.main.get_command(app), ())
    return paths


def test_every_help_is_clean(capsys):
    paths = _command_paths()
    assert len(paths) > 25 and ("review", "queue") in paths
    problems = []
    for path in paths:
        assert main([*path, "--help"]) == 0, path
        text = capsys.readouterr().out
        where = " ".join(("safevet",) + path)
        for pattern in (PYTHON_TYPE, BRACED_NAME):
            if pattern.search(text):
                problems.append(f"{where}: {pattern.search(text).group(0)}")
        if "list[" in text or "python -m" in text:
            problems.append(f"{where}: a Python detail")
        if path in ASKS_PASSPHRASE and "SAFEVET_KEY_PASSPHRASE" not in text:
            problems.append(f"{where}: does not name $SAFEVET_KEY_PASSPHRASE")
        if path == ():
            for needed in ("Exit codes", "130", "--init", "--version", "SAFEVET_HOME",
                           "SAFEVET_KEY_PASSPHRASE", "tab-separated"):
                if needed not in text:
                    problems.append(f"{where}: root help lacks {needed!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("argv, needle", [
    (("results", "--help"), "RUN_ID"), (("models", "show", "--help"), "NAME"),
    (("review", "queue", "--help"), "--runs                TEXT"),
])
def test_help_shows_click_style_metavars(capsys, argv, needle):
    assert main(list(argv)) == 0
    out = capsys.readouterr().out
    assert needle in out and "Usage: safevet " in out
