"""`safevet review ...`: the reviewer queue, decisions, new suite versions, impact, audit log.

A thin front end over engine.stewardship; the desktop Review page calls the same API.
"""
from __future__ import annotations

import json
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.text import Text

from engine.metrics.types import DEFAULT_TAU
from engine.cli.common import console, err_console, workspace
from engine.cli.json_output import JSON_OPTION, emit_json
from engine.cli.tables import Column, print_table
from engine.errors import CheckFailed, IntegrityError, SafeVetError

app = typer.Typer(no_args_is_help=True)


def _split(values: Optional[list[str]]) -> list[str] | None:
    """--runs a,b --runs c -> [a, b, c]; None when not given (= every run using the suite)."""
    if not values:
        return None
    return [v.strip() for chunk in values for v in chunk.split(",") if v.strip()]


def _open():
    from engine.store.db import ResultsStore
    ws = workspace()
    return ws, ResultsStore(ws.db_path)


def _suite(ws, ref: str):
    from engine.suites.registry import resolve_suite
    return resolve_suite(ws, ref)


RUNS_OPTION = typer.Option(None, "--runs", help="Run ids, comma-separated or repeated "
                           "(default: every run that used the suite)")


@app.command("queue")
def queue(suite_ref: str = typer.Argument(..., metavar="SUITE"),
          runs: Optional[list[str]] = RUNS_OPTION,
          limit: Optional[int] = typer.Option(None, "--limit", help="Contested items to list"),
          audit_sample: int = typer.Option(5, "--audit-sample",
                                           help="Random uncontested items added for audit"),
          seed: int = typer.Option(0, "--seed", help="Seed of the audit sample"),
          tau: float = typer.Option(DEFAULT_TAU, "--tau", help="Confidence counted as high"),
          as_json: bool = JSON_OPTION) -> None:
    """Items ranked by contention signals, then a seeded random audit sample.

    Score: the signals combine as independent reasons to doubt the reference,
    score = 1 - (1 - s1)(1 - s2)..., each strength s between 0 and 1; an item is
    contested from 0.20. Each row says what every signal adds to its score.

    Position bias: a letter is a model's dominant position in a run when, over
    that model's answers to the suite's multiple-choice items in that run (one
    per item and condition, conflict_evidence left out), it picks the letter on
    more than 50% of them and at least 25 points more often than the letter is
    the key, from 10 answers up. Its answers on that letter do not count as
    disagreement with a key: agreement on it is a habit, not evidence.
    """
    from engine.stewardship import triage_queue
    from engine.stewardship.triage import position_biases, queue_explanation
    ws, store = _open()
    suite = _suite(ws, suite_ref)
    entries = triage_queue(store, suite, _split(runs), limit=limit, audit_sample=audit_sample,
                           seed=seed, tau=tau)
    if as_json:
        emit_json("review_queue", entries, suite_id=suite.id, suite_version=suite.version)
        return
    print_table(console, [Column("#", "right"), "item", "ref", Column("score", "right"),
                          "signals (strength: why)", "answers"],
                [(str(e.rank), e.item_id, e.reference, f"{e.score:.2f}", _why(e),
                  f"{e.n_answers} from {e.n_models} models") for e in entries],
                title=f"Review queue: {suite.id} {suite.version}")
    contested = sum(1 for e in entries if not e.audit_sample)
    console.print(f"{contested} contested item(s), {len(entries) - contested} audit sample(s)")
    console.print(Text(queue_explanation(position_biases(store, suite, _split(runs)))))


def _why(entry) -> Text:
    """The queue's reasons for one item, one per line (joined by `; ` when piped)."""
    why = Text()
    if entry.audit_sample:
        why.append("audit sample", style="cyan")
        why.append(" (uncontested, picked at random)")
    for n, s in enumerate(entry.signals):
        if why:
            why.append("\n")
        why.append(("weak: " if entry.audit_sample and n == 0 else "")
                   + f"{s.kind} {s.strength:.2f}: {s.explanation}")
    if entry.signals:
        from engine.stewardship.triage import explain_score
        why.append("\n" + explain_score(entry.signals), style="dim")
    if entry.open_reviews:
        if why:
            why.append("\n")
        why.append("open review(s): " + ", ".join(f"#{i}" for i in entry.open_reviews),
                   style="yellow")
    return why


def _answer_row(view, a) -> tuple[str | Text, ...]:
    if a.error:
        return (a.model, a.condition, a.run_id, Text("error", style="red"), "", "", a.error)
    extra = ", ".join(a.chosen_labels) if view.kind == "mcq" else ", ".join(
        f"{j}: {lab}" for j, lab in sorted(a.judge_labels.items()))
    correct: str | Text = "" if a.correct is None else (
        "yes" if a.correct else Text("no", style="red"))
    return (a.model, a.condition, a.run_id, a.chosen or "-",
            "" if a.confidence is None else f"{a.confidence:.2f}", correct, extra)


@app.command("show")
def show(suite_ref: str = typer.Argument(..., metavar="SUITE"),
         item_id: str = typer.Argument(..., metavar="ITEM"),
         runs: Optional[list[str]] = RUNS_OPTION,
         tau: float = typer.Option(DEFAULT_TAU, "--tau", help="Confidence counted as high"),
         as_json: bool = JSON_OPTION) -> None:
    """One item: text, evidence, labels, the models' answers and confidences, decisions."""
    from engine.stewardship import item_view
    ws, store = _open()
    view = item_view(store, _suite(ws, suite_ref), item_id, _split(runs), tau=tau)
    if as_json:
        emit_json("review_item", view)
        return
    it = view.item
    console.print(f"[bold]{escape(it['id'])}[/] ({view.kind}) in {view.suite_id} "
                  f"{view.suite_version}" + ("  [red]retired[/]" if it.get("retired") else ""))
    if view.kind == "mcq":
        console.print(escape(it["question"]))
        for letter, text in it["options"].items():
            mark = "*" if letter == it["answer"] else " "
            labels = ", ".join(it["option_labels"].get(letter, []))
            console.print(f" {mark} {letter}. {escape(text)}"
                          + (f"  [yellow]({labels})[/]" if labels else ""))
        console.print(f"key: [bold]{it['answer']}[/]")
        console.print(f"[bold]clean evidence:[/] {escape(it['clean_evidence'] or '(none)')}")
        console.print(f"[bold]conflict evidence:[/] {escape(it['conflict_evidence'] or '(none)')}")
    else:
        console.print(escape(it["prompt"]))
        console.print(f"expected: [bold]{it['expected']}[/]  harm level: {it.get('harm_level')}"
                      f"  category: {escape(it.get('category') or '')}")
    print_table(console, ["model", "condition", "run", "answer", Column("confidence", "right"),
                          "correct", "labels / judges"],
                [_answer_row(view, a) for a in view.answers])
    for s in view.signals:
        console.print(f"signal {s.kind} {s.strength:.2f}: {escape(s.explanation)}")
    for d in view.decisions:
        console.print(f"review #{d.id} [{d.status}] {d.decision} {escape(json.dumps(d.payload))} "
                      f"by {escape(d.reviewer)} ({escape(d.role)}) on {d.suite_version}: "
                      f"{escape(d.rationale)}")


def _labels(values: list[str]) -> dict[str, list[str]]:
    """--label A=high_risk,unsafe --label B= -> {"A": [...], "B": []}."""
    out: dict[str, list[str]] = {}
    for v in values:
        letter, sep, labels = v.partition("=")
        if not sep:
            raise SafeVetError(f"--label {v!r}: expected LETTER=label[,label] (or LETTER= for none)")
        out[letter.strip().upper()] = [x.strip() for x in labels.split(",") if x.strip()]
    return out


@app.command("decide")
def decide_cmd(suite_ref: str = typer.Argument(..., metavar="SUITE"),
               item_id: str = typer.Argument(..., metavar="ITEM"),
               decision: str = typer.Argument(..., metavar="DECISION",
                                              help="keep | change_key | change_labels | "
                                                   "edit_evidence | retire"),
               reviewer: str = typer.Option(..., "--reviewer", help="Reviewer's name"),
               role: str = typer.Option(..., "--role", help="Reviewer's role, e.g. radiologist"),
               rationale: str = typer.Option("", "--rationale", help="Why (required)"),
               answer: Optional[str] = typer.Option(None, "--answer", help="New key letter"),
               expected: Optional[str] = typer.Option(None, "--expected",
                                                      help="New expected label (open items)"),
               label: Optional[list[str]] = typer.Option(None, "--label",
                                                         help="LETTER=label,label (repeat)"),
               harm_level: Optional[str] = typer.Option(None, "--harm-level",
                                                        help="0-3 or none (open items)"),
               clean_evidence: Optional[str] = typer.Option(None, "--clean-evidence"),
               conflict_evidence: Optional[str] = typer.Option(None, "--conflict-evidence"),
               reference_response: Optional[str] = typer.Option(None, "--reference-response"),
               payload_json: Optional[str] = typer.Option(None, "--payload",
                                                          help="The payload as JSON instead"),
               ) -> None:
    """Record a decision on an item (rationale required)."""
    from engine.stewardship import ReviewPolicy, decide
    ws, store = _open()
    payload: dict[str, Any] = {}
    if payload_json:
        try:
            payload = json.loads(payload_json)
        except ValueError as exc:
            raise SafeVetError(f"--payload is not valid JSON ({exc})") from exc
        if not isinstance(payload, dict):
            raise SafeVetError("--payload must be a JSON object")
    for name, value in (("answer", answer), ("expected", expected),
                        ("clean_evidence", clean_evidence),
                        ("conflict_evidence", conflict_evidence),
                        ("reference_response", reference_response)):
        if value is not None:
            payload[name] = value
    if label:
        payload["option_labels"] = _labels(label)
    if harm_level is not None:
        try:
            payload["harm_level"] = None if harm_level.lower() == "none" else int(harm_level)
        except ValueError:
            raise SafeVetError(f"--harm-level: expected 0-3 or none, got {harm_level!r}") from None
    d = decide(store, _suite(ws, suite_ref), item_id, reviewer, role, decision, payload,
               rationale, policy=ReviewPolicy.load(ws.home))
    console.print(f"review #{d.id}: {d.decision} on {d.item_id} ({d.suite_id} {d.suite_version}) "
                  f"recorded as [bold]{d.status}[/]"
                  + (" — needs a second reviewer: safevet review confirm "
                     f"{d.id} --reviewer ... --role ... --rationale ..."
                     if d.status == "proposed" else ""))


def _second(review_id: int, reviewer: str, role: str, rationale: str, *, ok: bool) -> None:
    from engine.stewardship import confirm, reject
    _, store = _open()
    d = (confirm if ok else reject)(store, review_id, reviewer, role, rationale)
    console.print(f"review #{d.id} ({d.decision} on {d.item_id}) is now [bold]{d.status}[/], "
                  f"proposed by {escape(d.reviewer)}, {d.status} by {escape(reviewer)}")


@app.command("confirm")
def confirm_cmd(review_id: int = typer.Argument(..., metavar="REVIEW_ID"),
                reviewer: str = typer.Option(..., "--reviewer"),
                role: str = typer.Option(..., "--role"),
                rationale: str = typer.Option("", "--rationale")) -> None:
    """Second reviewer accepts a proposed decision (not the one who proposed it)."""
    _second(review_id, reviewer, role, rationale, ok=True)


@app.command("reject")
def reject_cmd(review_id: int = typer.Argument(..., metavar="REVIEW_ID"),
               reviewer: str = typer.Option(..., "--reviewer"),
               role: str = typer.Option(..., "--role"),
               rationale: str = typer.Option("", "--rationale")) -> None:
    """Second reviewer turns a proposed decision down."""
    _second(review_id, reviewer, role, rationale, ok=False)


@app.command("list")
def list_cmd(suite_ref: str = typer.Argument(..., metavar="SUITE"),
             status: Optional[str] = typer.Option(None, "--status",
                                                  help="proposed | confirmed | rejected | applied"),
             as_json: bool = JSON_OPTION) -> None:
    """Decisions made on a suite (all versions)."""
    from engine.stewardship import list_decisions
    ws, store = _open()
    suite = _suite(ws, suite_ref)
    decisions = list_decisions(store, suite.id, status=status)  # type: ignore[arg-type]
    if as_json:
        emit_json("reviews", decisions, suite_id=suite.id)
        return
    print_table(console, [Column("#", "right"), "version", "item", "decision", "payload",
                          "status", "by", "second", "rationale"],
                [(str(d.id), d.suite_version, d.item_id, d.decision, json.dumps(d.payload),
                  d.status + (f" → {d.applied_version}" if d.applied_version else ""),
                  f"{d.reviewer} ({d.role})",
                  f"{d.second_reviewer} ({d.second_role})" if d.second_reviewer else "",
                  d.rationale) for d in decisions])


@app.command("apply")
def apply_cmd(suite_ref: str = typer.Argument(..., metavar="SUITE"),
              actor: str = typer.Option(..., "--actor", help="Who applies the decisions")) -> None:
    """Write the next suite version with every confirmed decision applied."""
    from engine.stewardship import apply_decisions
    ws, store = _open()
    old = _suite(ws, suite_ref)
    new = apply_decisions(ws, store, old, actor)
    console.print(f"{new.id} {old.version} → [bold]{new.version}[/] written to {new.path} "
                  f"(sha256 {new.manifest.items_sha256[:16]}…); {old.version} stays loadable "
                  f"as {old.id}@{old.version}")
    for entry in new.manifest.changelog:
        if entry.version == new.version:
            console.print(f"  {escape(entry.summary)}")


_METRIC_NAMES = {"accuracy": "accuracy", "high_risk_error_rate": "high-risk error",
                 "unsafe_answer_rate": "unsafe answer", "contradiction_rate": "contradiction",
                 "dangerous_overconfidence": "dangerous overconf."}


@app.command("impact")
def impact_cmd(old_ref: str = typer.Argument(..., metavar="OLD", help="e.g. SUITE@1.0.0"),
               new_ref: Optional[str] = typer.Argument(None, metavar="NEW",
                                                       help="default: the newest version"),
               runs: Optional[list[str]] = RUNS_OPTION,
               tau: float = typer.Option(DEFAULT_TAU, "--tau", help="Confidence counted as high"),
               n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples"),
               as_json: bool = JSON_OPTION) -> None:
    """Re-score stored runs against a new suite version (no model call); show what moves."""
    from engine.number_format import CLI, points, rate
    from engine.stewardship import impact
    from engine.stewardship.answers import runs_using_suite
    ws, store = _open()
    old = _suite(ws, old_ref)
    new = _suite(ws, new_ref or old.id)
    if new.version == old.version and new.manifest.items_sha256 == old.manifest.items_sha256:
        raise SafeVetError(f"{old.id} {old.version} is compared with itself; name the newer "
                           f"version (e.g. {old.id}@X.Y.Z)")
    run_ids = _split(runs) or runs_using_suite(store, old.id)
    report = impact(store, run_ids, old, new, tau=tau, n_boot=n_boot)
    if as_json:
        emit_json("impact", report)
        return
    console.print(f"{report.suite_id} {report.old_version} → {report.new_version}: "
                  f"{len(report.changes)} item(s) differ, runs {', '.join(report.run_ids)}")
    for ch in report.changes:
        console.print("  " + escape(f"{ch.item_id}: " + "; ".join(
            f"{k} {v['old']} → {v['new']}" for k, v in ch.fields.items())))
    moved = [(c, s) for c in report.cells for s in c.shifts
             if s.delta is None or abs(s.delta) > 1e-12]
    unchanged = sum(len(c.shifts) for c in report.cells) - len(moved)
    print_table(console, ["run", "model", "condition", "metric", Column("old %", "right"),
                          Column("new %", "right"), Column("change", "right")],
                [(c.run_id, c.model, c.condition, _METRIC_NAMES[s.metric],
                  rate(s.old, style=CLI, interval=False), rate(s.new, style=CLI, interval=False),
                  points(s.delta, style=CLI)) for c, s in moved],
                title="Metrics that move (points); the rest are unchanged")
    console.print(f"{unchanged} metric value(s) unchanged across {len(report.cells)} "
                  f"model × condition cell(s); items per cell: "
                  + ", ".join(sorted({f"{c.n_items_old} → {c.n_items_new}" for c in report.cells})))


@app.command("appendix")
def appendix_cmd(suite_ref: str = typer.Argument(..., metavar="SUITE")) -> None:
    """The stewardship appendix of a suite as JSON (what a report includes), in the
    --json envelope: kind stewardship_appendix."""
    from engine.stewardship import stewardship_appendix
    ws, store = _open()
    emit_json("stewardship_appendix", stewardship_appendix(store, _suite(ws, suite_ref).id))


@app.command("verify-log")
def verify_log_cmd() -> None:
    """Check the hash-chained audit log and the reviews table against it; exit 2 if broken."""
    from engine.stewardship import verify_log
    _, store = _open()
    problems = verify_log(store)
    n = len(store.audit_entries())
    if problems:
        for p in problems:
            err_console.print(f"[bold red]broken:[/] {escape(p)}")
        # An error (not typer.Exit) so `safevet` exits non-zero however it is invoked.
        raise CheckFailed(f"audit log of {n} entries does NOT verify: {problems[0]}"
                             + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    console.print(f"audit log intact: {n} entries chain and match the reviews table")
