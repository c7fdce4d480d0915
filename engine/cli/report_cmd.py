"""`safevet report`, `safevet verify` and `safevet keys`: signed audit reports and their keys."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from engine.cli.common import check_out_file, console, err_console, workspace
from engine.cli.json_output import JSON_OPTION, emit_json
from engine.cli.tables import print_table
from engine.errors import CheckFailed, SafeVetError
from engine.events import ProgressEvent

keys_app = typer.Typer(no_args_is_help=True, add_completion=False,
                       help="Make or import the institution's report-signing key.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("report")(report)
    app.command("verify")(verify)
    app.add_typer(keys_app, name="keys", help="Make or import the report-signing key.")


def _can_prompt() -> bool:
    """Whether a hidden prompt can be answered: stdin is a terminal, or a caller put its
    own input there (typer's test runner, a program embedding the CLI). A pipe or /dev/null
    cannot type a passphrase, and a closed stdin cannot be read at all."""
    import sys

    stdin = sys.stdin
    if stdin is None or stdin.closed:
        return False
    return stdin.isatty() or stdin is not sys.__stdin__


def _passphrase(confirm: bool) -> str:
    """From SAFEVET_KEY_PASSPHRASE, else a hidden prompt; never echoed, never stored."""
    from engine.report.keys import PASSPHRASE_ENV, passphrase_from_env

    env = passphrase_from_env()
    if env is not None:
        console.print(f"using the key passphrase from ${PASSPHRASE_ENV}")
        return env
    advice = f"set ${PASSPHRASE_ENV}, or run the command in a terminal"
    if not _can_prompt():
        raise SafeVetError(f"the key passphrase is needed and there is no terminal to ask "
                           f"for it: {advice}")
    try:
        return typer.prompt("Key passphrase", hide_input=True, confirmation_prompt=confirm)
    except typer.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # Ctrl-C, not an empty answer
            err_console.print("interrupted")
            raise typer.Exit(130) from None
        raise SafeVetError(f"no key passphrase was given (input ended): {advice}") from None


@keys_app.command("init")
def keys_init(org: str = typer.Option(..., "--org", help="Organisation named on the certificate"),
              out: Path = typer.Option(..., "--out", help="PKCS#12 file to write (.p12)"),
              csr: Optional[Path] = typer.Option(None, "--csr",
                                                 help="Also write a CSR for the hospital CA"),
              days: int = typer.Option(1095, "--days", help="Certificate validity in days"),
              name: Optional[str] = typer.Option(None, "--name",
                                                 help="Signer common name (default from --org)"),
              ) -> None:
    """Make a signing key and self-signed document-signing certificate.

    The key passphrase is read from $SAFEVET_KEY_PASSPHRASE when it is set (scripts, CI),
    otherwise asked for twice at the terminal, hidden."""
    from engine.report.keys import create_signing_identity

    check_out_file(out)
    if csr is not None:
        check_out_file(csr, "--csr")

    files = create_signing_identity(org, out, _passphrase(confirm=True), common_name=name,
                                    csr_path=csr, days=days)
    console.print(f"key and certificate: {files.p12} (passphrase-protected PKCS#12)")
    console.print(f"certificate for `safevet verify --trust`: {files.cert_pem}")
    if files.csr:
        console.print(f"certificate signing request for your CA: {files.csr}")


@keys_app.command("import")
def keys_import(p12: Path = typer.Argument(..., metavar="P12",
                                           help="PKCS#12 file (.p12 / .pfx)")) -> None:
    """Copy a PKCS#12 into the workspace after checking its passphrase.

    The key passphrase is read from $SAFEVET_KEY_PASSPHRASE when it is set (scripts, CI),
    otherwise asked for at the terminal, hidden."""
    from engine.report.keys import import_key

    ws = workspace(create=True)
    dest = import_key(ws.keys_dir, p12, _passphrase(confirm=False))
    console.print(f"imported: {dest}")
    console.print(f"certificate for `safevet verify --trust`: {dest.with_suffix('.cert.pem')}")


def report(run_id: str = typer.Argument(..., help="Run id (see `safevet runs`)"),
           model: Optional[list[str]] = typer.Option(
               None, "--model", help="Candidate model (repeatable; default: every model)"),
           key: Optional[Path] = typer.Option(
               None, "--key", help="PKCS#12 signing key (default: the workspace's only key)"),
           thresholds: Optional[Path] = typer.Option(
               None, "--thresholds", help="Governance thresholds TOML (default: bundled)"),
           out: Optional[Path] = typer.Option(None, "--out", help="Output folder"),
           compare_with: Optional[str] = typer.Option(
               None, "--compare-with", metavar="A",
               help="Add a \"Compared with A\" section: each report's model against model A "
                    "on the same items (paired differences, McNemar, flipped items)"),
           compare_run: Optional[str] = typer.Option(
               None, "--compare-run", metavar="RUN_A",
               help="The run A's answers are in (default: this run); it must have the same "
                    "suite versions, settings and corpus"),
           ) -> None:
    """Write one signed PDF safety audit report per candidate model.

    The key passphrase is read from $SAFEVET_KEY_PASSPHRASE when it is set (scripts, CI),
    otherwise asked for at the terminal, hidden."""
    from engine.errors import NotFoundError
    from engine.report.build import build_report, run_models
    from engine.report.keys import default_key, load_signing_identity
    from engine.report.thresholds import load_thresholds
    from engine.store.db import ResultsStore

    if thresholds is not None:
        load_thresholds(thresholds)  # a bad thresholds file is refused before any work
    ws = workspace()
    store = ResultsStore(ws.db_path)
    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} is not in {ws.db_path} (see `safevet runs`)")
    key_path = key or default_key(ws.keys_dir)
    passphrase = _passphrase(confirm=False)
    load_signing_identity(key_path, passphrase)  # a wrong passphrase fails before any work
    models = model or run_models(store, run)

    def show(ev: ProgressEvent) -> None:
        console.print(f"  [{ev.done}/{ev.total}] {ev.message}")

    other = None
    if compare_with:  # checked before any report is written
        from engine.compare.candidates import candidate
        other = candidate(store, compare_run or run_id, compare_with, comparable_with=run_id)
    elif compare_run:
        raise SafeVetError("--compare-run needs --compare-with (the model to compare with)")

    for name in models:
        t0 = time.monotonic()
        against = other if other is not None and (other.run_id, other.model) != (
            run_id, name) else None
        path = build_report(ws, store, run_id, name, key_path, passphrase,
                            thresholds_path=thresholds, out_dir=out or ws.reports_dir,
                            progress=show, compare_with=against)
        console.print(f"[bold]{name}[/]: {path} ({path.stat().st_size / 1024:.0f} KiB, "
                      f"{time.monotonic() - t0:.1f} s)")
    cert = key_path.with_suffix(".cert.pem")
    if cert.exists():
        console.print(f"verify with: safevet verify REPORT.pdf --trust {cert}")


def verify(pdf: Path = typer.Argument(..., metavar="PDF", help="Signed report PDF"),
           trust: Path = typer.Option(..., "--trust", help="Institution certificate (PEM/DER)"),
           store_check: bool = typer.Option(True, "--store/--no-store",
                                            help="Recompute figures from the workspace store"),
           as_json: bool = JSON_OPTION,
           ) -> None:
    """Check signature, trust, coverage and figures; exit 0 only when everything holds.

    The verdict is one of: signature valid and trusted; signed by a certificate you
    have not chosen to trust (--trust names another); the file was changed after
    signing; not a signed SafeVet report; manifest or figures problems.
    """
    from rich.markup import escape

    from engine.report.verify import VerifyOutcome, verify_report

    from rich.text import Text

    result = verify_report(pdf, trust, workspace() if store_check else None)
    if as_json:
        emit_json("verification", result, ok=result.outcome is VerifyOutcome.TRUSTED,
                  outcome=result.outcome.value, headline=result.outcome.headline,
                  explanation=result.explanation())
        if result.outcome is not VerifyOutcome.TRUSTED:
            raise CheckFailed(f"{pdf}: verification FAILED — {result.outcome.headline}")
        return

    def yn(v: bool | None) -> str | Text:
        return Text("yes", style="green") if v else (
            Text("NO", style="red") if v is False else "not checked")

    def with_hash(mark: str | Text, sha: str | None) -> Text:
        return Text.assemble(mark, f" sha256 {sha}" if sha else "")

    # Every value whole (the manifest hash too): the table folds, or is tab-separated lines
    # when piped.
    print_table(console, ["check", "result"], [
        ("Report", str(pdf)),
        ("Signer", result.signer_text()),
        ("Trust certificate (--trust)", result.trust_text()),
        ("Signing time (signer's clock)",
         result.signing_time.isoformat() if result.signing_time else "unknown"),
        ("Intact (no byte changed)", yn(result.intact)),
        ("Valid (signature verifies)", yn(result.valid)),
        ("Trusted (chains to --trust)", yn(result.trusted)),
        ("Covers the whole file", yn(result.covers_whole_file)),
        ("Embedded manifest", with_hash(yn(result.manifest_found), result.manifest_sha256)),
        ("Run / model", f"{result.run_id or '?'} / {result.model or '?'}"),
        ("Figures match results store",
         yn(result.store_matches) if result.store_checked or result.store_matches is False
         else "not checked"),
    ], show_header=False)
    for note in result.notes:
        console.print(f"note: {note}")
    for problem in result.problems:
        console.print(f"[red]problem:[/] {problem}")
    outcome = result.outcome
    colour = {VerifyOutcome.TRUSTED: "green", VerifyOutcome.UNTRUSTED: "yellow"}.get(outcome,
                                                                                    "red")
    console.print(f"[bold {colour}]{outcome.verdict}: {outcome.headline}[/]. "
                  f"{escape(result.explanation())}")
    if outcome is not VerifyOutcome.TRUSTED:
        raise CheckFailed(f"{pdf}: verification FAILED — {outcome.headline}")
    console.print("[bold green]verification passed[/]")
