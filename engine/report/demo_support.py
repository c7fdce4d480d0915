"""The report step of `make demo`: sign and verify one PDF per candidate model.

With an institution key in the workspace and SAFEVET_KEY_PASSPHRASE set, the
demo signs with it. Otherwise it makes a clearly labelled demo key whose
passphrase is random and lives only in this process (so no passphrase is ever
written down), keeps it apart from real keys, and says so.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.compare.types import CandidateRef
from engine.errors import NotFoundError
from engine.events import ProgressCallback
from engine.report.build import build_report, run_models
from engine.report.keys import (DEMO_COMMON_NAME, DEMO_KEYS_SUBDIR, DEMO_ORG,
                                create_signing_identity, passphrase_from_env)
from engine.report.verify import VerificationResult, verify_report
from engine.store.db import ResultsStore
from engine.workspace import Workspace

__all__ = ["DEMO_ORG", "DemoReport", "demo_reports"]


@dataclass
class DemoReport:
    model: str
    path: Path
    verification: VerificationResult
    seconds: float


def _signing_key(ws: Workspace, say: Callable[[str], None]) -> tuple[Path, Path, str]:
    passphrase = passphrase_from_env()
    real = sorted(ws.keys_dir.glob("*.p12"))
    if passphrase and len(real) == 1:
        say(f"signing with the workspace key {real[0].name}")
        return real[0], real[0].with_suffix(".cert.pem"), passphrase
    demo_dir = ws.keys_dir / DEMO_KEYS_SUBDIR
    demo_dir.mkdir(parents=True, exist_ok=True)
    passphrase = secrets.token_urlsafe(24)
    files = create_signing_identity(DEMO_ORG, demo_dir / "demo-signing.p12", passphrase,
                                    common_name=DEMO_COMMON_NAME, days=30,
                                    overwrite=True)
    say(f"no institution signing key (or no $SAFEVET_KEY_PASSPHRASE): made a DEMO key "
        f"{files.p12} (self-signed, 30 days, passphrase random and never stored). "
        f"For real reports run `safevet keys init --org \"Hospital\" --out key.p12` and "
        f"`safevet keys import key.p12`.")
    return files.p12, files.cert_pem, passphrase


def demo_reports(ws: Workspace, store: ResultsStore, run_id: str,
                 say: Callable[[str], None] = print,
                 progress: ProgressCallback | None = None) -> list[DemoReport]:
    """Write, sign and verify one report per model of the run; say what happened."""
    key, cert, passphrase = _signing_key(ws, say)
    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} is not in the results store {store.path}")
    out = []
    models = run_models(store, run)
    for model in models:
        t0 = time.monotonic()
        # Two candidates (the demo's fp32 and int8 deployments of one model): each report
        # also compares its model with the other one, item by item.
        other = ([CandidateRef(run_id=run_id, model=m) for m in models if m != model][0]
                 if len(models) == 2 else None)
        pdf = build_report(ws, store, run_id, model, key, passphrase, out_dir=ws.reports_dir,
                           progress=progress, compare_with=other)
        result = verify_report(pdf, cert, ws)
        seconds = time.monotonic() - t0
        say(f"{model}: {pdf} — signature {'valid and trusted' if result.ok else 'NOT VALID'}"
            f", figures {'match' if result.store_matches else 'NOT re-checked'} the results "
            f"store ({seconds:.1f} s). Check it yourself: safevet verify {pdf} --trust {cert}")
        out.append(DemoReport(model=model, path=pdf, verification=result, seconds=seconds))
    return out
