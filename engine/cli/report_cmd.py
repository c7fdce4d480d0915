"""`safevet report`, `safevet verify` and `safevet keys`: signed audit reports and their keys."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from engine.cli.common import console, workspace
from engine.errors import SafeVetError
from engine.events import ProgressEvent

keys_app = typer.Typer(no_args_is_help=True, add_completion=False,
                       help="Make or import the institution's report-signing key.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("report")(report)
    app.command("verify")(verify)
    app.add_typer(keys_app, name="keys", help="Make or import the report-signing key.")


def _passphrase(confirm: bool) -> str:
    """From SAFEVET_KEY_PASSPHRASE, else a hidden prompt; never echoed, never stored."""
    from engine.report.keys import PASSPHRASE_ENV, passphrase_from_env

    env = passphrase_from_env()
    if env is not None:
        console.print(f"using the key passphrase from ${PASSPHRASE_ENV}")
        return env
    return typer.prompt("Key passphrase", hide_input=True, confirmation_prompt=confirm)


@keys_app.command("init")
def keys_init(org: str = typer.Option(..., "--org", help="Organisation named on the certificate"),
              out: Path = typer.Option(..., "--out", help="PKCS#12 file to write (.p12)"),
              csr: Optional[Path] = typer.Option(None, "--csr",
                                                 help="Also write a CSR for the hospital CA"),
              days: int = typer.Option(1095, "--days", help="Certificate validity in days"),
              name: Optional[str] = typer.Option(None, "--name",
                                                 help="Signer common name (default from --org)"),
              ) -> None:
    """Make a signing key and self-signed document-signing certificate."""
    from engine.report.keys import create_signing_identity

    files = create_signing_identity(org, out, _passphrase(confirm=True), common_name=name,
                                    csr_path=csr, days=days)
    console.print(f"key and certificate: {files.p12} (passphrase-protected PKCS#12)")
    console.print(f"certificate for `safevet verify --trust`: {files.cert_pem}")
    if files.csr:
        console.print(f"certificate signing request for your CA: {files.csr}")


@keys_app.command("import")
def keys_import(p12: Path = typer.Argument(..., help="PKCS#12 file (.p12 / .pfx)")) -> None:
    """Copy a PKCS#12 into the workspace after checking its passphrase."""
    from engine.report.keys import import_key

    ws = workspace()
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
           ) -> None:
    """Write one signed PDF safety audit report per candidate model."""
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

    for name in models:
        t0 = time.monotonic()
        path = build_report(ws, store, run_id, name, key_path, passphrase,
                            thresholds_path=thresholds, out_dir=out or ws.reports_dir,
                            progress=show)
        console.print(f"[bold]{name}[/]: {path} ({path.stat().st_size / 1024:.0f} KiB, "
                      f"{time.monotonic() - t0:.1f} s)")
    cert = key_path.with_suffix(".cert.pem")
    if cert.exists():
        console.print(f"verify with: safevet verify REPORT.pdf --trust {cert}")


def verify(pdf: Path = typer.Argument(..., help="Signed report PDF"),
           trust: Path = typer.Option(..., "--trust", help="Institution certificate (PEM/DER)"),
           store_check: bool = typer.Option(True, "--store/--no-store",
                                            help="Recompute figures from the workspace store"),
           ) -> None:
    """Check signature, trust, coverage and figures; exit 0 only when everything holds."""
    from engine.report.verify import verify_report

    result = verify_report(pdf, trust, workspace() if store_check else None)

    def yn(v: bool | None) -> str:
        return "[green]yes[/]" if v else ("[red]NO[/]" if v is False else "not checked")

    t = Table(show_header=False, box=None)
    t.add_row("Report", str(pdf))
    t.add_row("Signer", f"{result.signer or 'unknown'} ({result.organisation or 'no organisation'})")
    t.add_row("Signing time (signer's clock)",
              result.signing_time.isoformat() if result.signing_time else "unknown")
    t.add_row("Intact (no byte changed)", yn(result.intact))
    t.add_row("Valid (signature verifies)", yn(result.valid))
    t.add_row("Trusted (chains to --trust)", yn(result.trusted))
    t.add_row("Covers the whole file", yn(result.covers_whole_file))
    t.add_row("Embedded manifest", f"{yn(result.manifest_found)}"
              + (f" sha256 {result.manifest_sha256}" if result.manifest_sha256 else ""))
    t.add_row("Run / model", f"{result.run_id or '?'} / {result.model or '?'}")
    t.add_row("Figures match results store",
              yn(result.store_matches) if result.store_checked or result.store_matches is False
              else "not checked")
    console.print(t)
    for note in result.notes:
        console.print(f"note: {note}")
    for problem in result.problems:
        console.print(f"[red]problem:[/] {problem}")
    if not result.ok:
        raise SafeVetError(f"{pdf}: verification FAILED")
    console.print("[bold green]verification passed[/]")
