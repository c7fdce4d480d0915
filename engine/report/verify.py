"""Checking a signed report: the signature, its trust, its coverage, and its figures.

A committee member runs this before relying on a report. Tampered input must
yield a clear "not valid" answer, never a crash, so parsing failures of the
untrusted file are caught and reported as failures.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.metrics.types import DEFAULT_TAU
from engine.errors import SafeVetError
from engine.report.cms_shape import cms_shape_problems
from engine.report.signing import MANIFEST_NAME
from engine.workspace import Workspace


@dataclass
class VerificationResult:
    """Every check `safevet verify` reports; `ok` only when all of them hold."""

    path: str
    signer: str | None = None
    organisation: str | None = None
    signing_time: datetime | None = None
    signatures: int = 0
    intact: bool = False
    valid: bool = False
    trusted: bool = False
    covers_whole_file: bool = False
    manifest_found: bool = False
    manifest_sha256: str | None = None
    run_id: str | None = None
    model: str | None = None
    store_checked: bool = False
    store_matches: bool | None = None     # None: no store holding the run to compare with
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.signatures == 1 and self.intact and self.valid and self.trusted
                and self.covers_whole_file and self.manifest_found
                and self.store_matches is not False and not self.problems)


def load_trust_cert(path: str | Path):
    """The institution certificate (PEM or DER) as the only trust root."""
    from asn1crypto import pem, x509 as asn1_x509

    p = Path(path)
    if not p.is_file():
        raise SafeVetError(f"{p}: trust certificate not found")
    data = p.read_bytes()
    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        cert = asn1_x509.Certificate.load(data)
        cert.native  # force a full parse now, not halfway through validation
    except Exception as exc:  # asn1crypto raises several types for garbage
        raise SafeVetError(f"{p}: not an X.509 certificate (PEM or DER)") from exc
    return cert


def extract_manifest(pdf_bytes: bytes) -> bytes | None:
    """The embedded manifest's bytes, or None when the PDF has none."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf_bytes))
    found = reader.attachments.get(MANIFEST_NAME)
    return found[0] if found else None


def _check_signature(pdf_bytes: bytes, trust_cert, result: VerificationResult) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
    sigs = reader.embedded_signatures
    result.signatures = len(sigs)
    if len(sigs) != 1:
        result.problems.append(f"expected exactly one signature, found {len(sigs)}")
        if not sigs:
            return
    der = _check_contents_padding(pdf_bytes, sigs[-1], result)
    if der is not None:
        result.problems.extend(cms_shape_problems(der))
    vc = ValidationContext(trust_roots=[trust_cert], allow_fetching=False)
    status = validate_pdf_signature(sigs[-1], vc)
    cert = status.signing_cert
    if cert is not None:
        result.signer = cert.subject.native.get("common_name")
        result.organisation = cert.subject.native.get("organization_name")
    result.signing_time = status.signer_reported_dt
    result.intact = bool(status.intact)
    result.valid = bool(status.valid)
    result.trusted = bool(status.trusted)
    result.covers_whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE


def _check_contents_padding(pdf_bytes: bytes, sig,
                            result: VerificationResult) -> bytes | None:
    """Close the one gap the signature digest leaves: the /Contents placeholder.

    The signature value sits in a hex string that the ByteRange excludes, padded
    with zeros; a changed padding byte, or a hex digit rewritten in the other
    case, would not touch the digest. We require the exact bytes pyhanko writes:
    uppercase hex of the DER signature, then only zeros. Returns the DER CMS so
    its unsigned structure can be held to SafeVet's shape too, or None when the
    placeholder is already wrong.
    """
    br = [int(x) for x in sig.sig_object["/ByteRange"]]
    gap = pdf_bytes[br[0] + br[1]:br[2]]
    if len(gap) < 4 or gap[:1] != b"<" or gap[-1:] != b">":
        result.problems.append("signature contents are not a single hex string")
        return None
    hex_text = gap[1:-1]
    if not re.fullmatch(rb"[0-9A-F]*", hex_text) or len(hex_text) % 2:
        result.problems.append("signature contents hold characters other than uppercase hex")
        return None
    raw = bytes.fromhex(hex_text.decode("ascii"))
    der_len = _der_length(raw)
    if der_len is None or der_len > len(raw):
        result.problems.append("signature contents do not start with a complete DER "
                               "signature")
        return None
    if any(raw[der_len:]):
        result.problems.append("signature contents were altered after the signature "
                               "(non-zero bytes after the signature value)")
        return None
    return raw[:der_len]


def _der_length(raw: bytes) -> int | None:
    """Total length of the DER SEQUENCE at the start of raw, or None if it is not one."""
    if len(raw) < 2 or raw[0] != 0x30:
        return None
    first = raw[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or len(raw) < 2 + n:
        return None
    return 2 + n + int.from_bytes(raw[2:2 + n], "big")


def _diff(a: Any, b: Any, path: str = "", out: list[str] | None = None,
          limit: int = 5) -> list[str]:
    """The first few paths where two JSON values differ, for a readable mismatch message."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _diff(a.get(k), b.get(k), f"{path}.{k}" if path else k, out, limit)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", out, limit)
    elif a != b:
        out.append(f"{path}: report {a!r}, store {b!r}")
    return out


def _check_store(manifest: dict, ws: Workspace, result: VerificationResult) -> None:
    from engine.report.figures import MetricParams, compute_model_metrics
    from engine.store.db import ResultsStore

    if not ws.db_path.exists():
        result.notes.append(f"no results store at {ws.db_path}: figures not re-checked")
        return
    store = ResultsStore(ws.db_path)
    try:
        run = store.get_run(result.run_id or "")
        if run is None:
            result.notes.append(f"run {result.run_id} is not in {ws.db_path}: figures not "
                                f"re-checked")
            return
        now_status = run.status
        p = manifest.get("metric_params") or {}
        params = MetricParams(tau=float(p.get("tau", DEFAULT_TAU)), n_boot=int(p.get("n_boot", 2000)),
                              seed=int(p.get("seed", 0)))
        fresh = compute_model_metrics(ws, store, result.run_id or "", result.model or "", params)
    finally:
        store.close()
    result.store_checked = True
    fresh_json = json.loads(fresh.model_dump_json())
    diffs = _diff(manifest.get("metrics"), fresh_json)
    result.store_matches = not diffs
    if diffs:
        then = (manifest.get("run") or {}).get("status")
        hint = ""
        if then and now_status and then != now_status:
            hint = (f" (the run was '{then}' when the report was made and is '{now_status}' "
                    f"now: calls were added since; make a new report)")
        result.problems.append("embedded figures differ from a fresh recomputation from the "
                               "results store" + hint + ": " + "; ".join(diffs))


def verify_report(pdf_path: str | Path, trust_cert_path: str | Path,
                  ws: Workspace | None = None) -> VerificationResult:
    """Signature, trust, coverage, manifest, and (with a workspace) the figures."""
    pdf_path = Path(pdf_path)
    if not pdf_path.is_file():
        raise SafeVetError(f"{pdf_path}: report not found")
    trust_cert = load_trust_cert(trust_cert_path)
    pdf_bytes = pdf_path.read_bytes()
    result = VerificationResult(path=str(pdf_path))
    try:
        _check_signature(pdf_bytes, trust_cert, result)
    except Exception as exc:  # a damaged file is a verdict, not a crash
        result.problems.append(f"signature could not be checked: {type(exc).__name__}: {exc}")
    manifest: dict | None = None
    try:
        raw = extract_manifest(pdf_bytes)
        if raw is not None:
            manifest = json.loads(raw)
            result.manifest_found = True
            result.manifest_sha256 = hashlib.sha256(raw).hexdigest()
            result.run_id = manifest.get("run_id")
            result.model = manifest.get("model")
        else:
            result.problems.append(f"no embedded {MANIFEST_NAME}")
    except Exception as exc:
        result.problems.append(f"embedded manifest unreadable: {type(exc).__name__}: {exc}")
    if manifest is not None and ws is not None and result.intact and result.valid:
        try:
            _check_store(manifest, ws, result)
        except SafeVetError as exc:
            result.store_matches = False
            result.problems.append(f"figures could not be recomputed: {exc}")
    elif manifest is not None and ws is None:
        result.notes.append("no workspace given: figures not re-checked against a store")
    return result
