"""Checking a signed report: the signature, its trust, its coverage, and its figures.

A committee member runs this before relying on a report. Tampered input must
yield a clear "not valid" answer, never a crash, so parsing failures of the
untrusted file are caught and reported as failures.

Every check ends in one `VerifyOutcome`, worded once here for the CLI and the
desktop alike, because "the file was changed" and "signed by someone you did
not choose to trust" call for different actions and must never read the same.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Iterator

from engine.metrics.types import CALL_ORDERS, DEFAULT_TAU
from engine.errors import SafeVetError
from engine.report.cms_shape import cms_shape_problems
from engine.report.signing import MANIFEST_NAME
from engine.report.trust import CertIdentity, cert_identity, load_trust_cert
from engine.workspace import Workspace

__all__ = ["VerificationResult", "VerifyOutcome", "extract_manifest", "load_trust_cert",
           "verify_report"]

# pyhanko logs every failed trust check as a warning with the certvalidator traceback
# before it returns the verdict we report, and pypdf warns about every damaged file we
# already report as a problem; those are answers, not crashes, and must not reach the
# terminal or the desktop log as tracebacks.
_QUIET_LOGGERS = ("pyhanko", "pyhanko_certvalidator", "pypdf")


class VerifyOutcome(str, Enum):
    """What a check of one report comes to; only TRUSTED means "rely on it".

    The first three are the answers people act on: signature valid and signer
    trusted; intact but signed by someone you did not choose to trust (choose,
    or ask who signed it); the bytes changed (get a fresh copy). The others
    cover a file that is no signed SafeVet report at all, and a signed one
    whose embedded figures are missing or no longer match the store.
    """

    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"
    CHANGED = "changed"
    NOT_A_REPORT = "not_a_report"
    MANIFEST_PROBLEM = "manifest_problem"
    FIGURES_DIFFER = "figures_differ"

    @property
    def headline(self) -> str:
        return _HEADLINES[self]

    @property
    def verdict(self) -> str:
        """The short word before the headline: only a trusted report is "Valid"."""
        if self is VerifyOutcome.TRUSTED:
            return "Valid"
        return "Not trusted" if self is VerifyOutcome.UNTRUSTED else "NOT valid"


_HEADLINES = {
    VerifyOutcome.TRUSTED: "signature valid and trusted",
    VerifyOutcome.UNTRUSTED: "signed by a certificate you have not chosen to trust",
    VerifyOutcome.CHANGED: "the file was changed after signing",
    VerifyOutcome.NOT_A_REPORT: "not a signed SafeVet report",
    VerifyOutcome.MANIFEST_PROBLEM: "signed, but its embedded figures manifest is missing or "
                                    "unreadable",
    VerifyOutcome.FIGURES_DIFFER: "signature valid and trusted, but its figures differ from "
                                  "the results store",
}


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
    signer_cert: CertIdentity | None = None   # the certificate in the signature
    trust_cert: CertIdentity | None = None    # the certificate it was checked against
    trust_path: str | None = None
    signature_altered: bool = False   # bytes the digest leaves out (CMS, padding) were edited
    signature_unreadable: bool = False  # a signature is there but the PDF no longer parses

    @property
    def ok(self) -> bool:
        return (self.signatures == 1 and self.intact and self.valid and self.trusted
                and self.covers_whole_file and self.manifest_found
                and self.store_matches is not False and not self.problems
                and not self.signature_altered)

    @property
    def signer_is_demo(self) -> bool:
        """Signed with SafeVet's demo key: whatever else holds, never a clinical report."""
        return self.signer_cert is not None and self.signer_cert.is_demo

    @property
    def outcome(self) -> VerifyOutcome:
        """The one verdict; checked in the order a reader must hear them."""
        if self.signatures == 0 and not self.signature_unreadable:
            return VerifyOutcome.NOT_A_REPORT
        if (self.signatures != 1 or self.signature_altered or not self.intact
                or not self.valid or not self.covers_whole_file):
            return VerifyOutcome.CHANGED
        if not self.trusted:
            return VerifyOutcome.UNTRUSTED
        if not self.manifest_found:
            return VerifyOutcome.MANIFEST_PROBLEM
        if self.store_matches is False:
            return VerifyOutcome.FIGURES_DIFFER
        # Any problem not foreseen above still never earns a green tick.
        return VerifyOutcome.TRUSTED if self.ok else VerifyOutcome.CHANGED

    def signer_text(self) -> str:
        return self.signer_cert.describe() if self.signer_cert else "an unknown signer"

    def trust_text(self) -> str:
        where = f" [{Path(self.trust_path).name}]" if self.trust_path else ""
        return (self.trust_cert.describe() if self.trust_cert else "no certificate") + where

    def explanation(self) -> str:
        """The headline's reasons in plain words, naming the signer and the trusted cert."""
        outcome = self.outcome
        signer, trust = self.signer_text(), self.trust_text()
        if outcome is VerifyOutcome.TRUSTED:
            text = f"Signed by {signer}; checked against {trust}."
        elif outcome is VerifyOutcome.UNTRUSTED:
            text = self._untrusted_explanation(signer, trust)
        elif outcome is VerifyOutcome.CHANGED:
            by = f" of {signer}" if self.signer_cert else ""
            text = (f"Its bytes no longer match the signature{by}: do not rely on this "
                    f"report; ask whoever signed it for a fresh copy.")
        elif outcome is VerifyOutcome.NOT_A_REPORT:
            text = "The file holds no signature, or is not a readable PDF."
        elif outcome is VerifyOutcome.MANIFEST_PROBLEM:
            text = (f"Signed by {signer} and checked against {trust}, but the figures it "
                    f"states cannot be checked: do not rely on them.")
        else:
            text = (f"Signed by {signer}; checked against {trust}; the figures recomputed "
                    f"from the results store differ (see the problems).")
        if self.signer_is_demo and outcome is not VerifyOutcome.NOT_A_REPORT:
            text += " This is a DEMO signature: a demonstration report, not for clinical use."
        return text

    def _untrusted_explanation(self, signer: str, trust: str) -> str:
        if (self.signer_cert and self.trust_cert
                and self.signer_cert.sha256 == self.trust_cert.sha256):
            return (f"The file is unchanged since it was signed, and its signer {signer} is "
                    f"the certificate you trust, but that certificate does not validate now "
                    f"(expired, or not valid for signing).")
        return (f"The file is unchanged since it was signed, but it was signed by {signer}, "
                f"and the certificate you trust is {trust}. Trust the signer's certificate "
                f"only if you know it speaks for your institution.")


@contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Silence the PDF libraries' logging for one check (see _QUIET_LOGGERS)."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def extract_manifest(pdf_bytes: bytes) -> bytes | None:
    """The embedded manifest's bytes, or None when the PDF has none."""
    from pypdf import PdfReader

    with _quiet_libraries():  # pypdf warns about damaged files we already report
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
        shape = cms_shape_problems(der)
        result.problems.extend(shape)
        result.signature_altered = result.signature_altered or bool(shape)
    else:
        result.signature_altered = True
    vc = ValidationContext(trust_roots=[trust_cert], allow_fetching=False)
    with _quiet_libraries():
        status = validate_pdf_signature(sigs[-1], vc)
    cert = status.signing_cert
    if cert is not None:
        result.signer_cert = cert_identity(cert)
        result.signer = result.signer_cert.common_name
        result.organisation = result.signer_cert.organisation
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
          limit: int = 5, widened: list[str] | None = None) -> list[str]:
    """The first few paths where a report's figures (`a`) differ from the store's (`b`), for
    a readable mismatch message.

    Every figure the report carries is compared. A key only the fresh recomputation has is
    a figure SafeVet learned to compute after the report was signed (e.g. the baselines
    or the judge's held-out intervals): the report never stated it, so it is not a
    mismatch, and a report signed by an older SafeVet still verifies. Likewise a figure
    the report printed as a point (a bootstrap interval collapsed to its value) that is
    now the same value with an exact interval: the report stated the value, the store
    gives the same one, and the newer interval is only added (its path goes to
    `widened`, for a note)."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        if _collapsed_now_exact(a, b):
            if widened is not None:
                widened.append(path)
            return out
        for k in sorted(a):
            _diff(a.get(k), b.get(k), f"{path}.{k}" if path else k, out, limit, widened)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", out, limit, widened)
    elif a != b:
        out.append(f"{path}: report {a!r}, store {b!r}")
    return out


def _collapsed_now_exact(recorded: dict, fresh: dict) -> bool:
    """A recorded estimate whose interval was the point itself, recomputed with the same
    value, count and an exact (Clopper-Pearson) interval."""
    keys = ("value", "low", "high", "method")
    if not all(k in recorded for k in keys) or fresh.get("method") != "clopper_pearson":
        return False
    value = recorded["value"]
    return (value is not None and recorded["low"] == recorded["high"] == value
            and recorded["method"] != "clopper_pearson" and fresh.get("value") == value
            and recorded.get("n") == fresh.get("n")
            and {k: v for k, v in recorded.items() if k not in keys + ("n",)}
            == {k: v for k, v in fresh.items() if k not in keys + ("n",) and k in recorded})


def _check_store(manifest: dict, ws: Workspace, result: VerificationResult) -> None:
    from engine.figures import MetricParams, run_figures
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
        defaults = MetricParams()
        # A manifest from before call_order existed was computed in the store's order.
        order = p.get("call_order", "stored")
        params = MetricParams(tau=float(p.get("tau", DEFAULT_TAU)),
                              n_boot=int(p.get("n_boot", defaults.n_boot)),
                              seed=int(p.get("seed", defaults.seed)),
                              call_order=order if order in CALL_ORDERS else "key")
        fresh = run_figures(store, result.run_id or "", ws=ws, model=result.model or "",
                            params=params)
        # A "Compared with" section's figures are recomputed the same way (engine.compare).
        recorded_comparison = manifest.get("comparison")
        fresh_comparison = None
        if recorded_comparison:
            from engine.compare.candidates import recompute
            fresh_comparison = json.loads(recompute(store, ws, recorded_comparison)
                                          .model_dump_json())
    finally:
        store.close()
    result.store_checked = True
    fresh_json = json.loads(fresh.model_dump_json())
    widened: list[str] = []
    diffs = _diff(manifest.get("metrics"), fresh_json, widened=widened)
    if recorded_comparison:
        _diff(recorded_comparison, fresh_comparison, "comparison", diffs, widened=widened)
    if widened:
        result.notes.append(f"{len(widened)} figure(s) the report printed as a point (a "
                            f"collapsed bootstrap interval) now carry an exact interval around "
                            f"the same value, e.g. {widened[0]}; the values match")
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
    result = VerificationResult(path=str(pdf_path), trust_cert=cert_identity(trust_cert),
                                trust_path=str(trust_cert_path))
    try:
        _check_signature(pdf_bytes, trust_cert, result)
    except Exception as exc:  # a damaged file is a verdict, not a crash
        result.problems.append(f"signature could not be checked: {type(exc).__name__}: {exc}")
        # A signature dictionary in a file that no longer parses (cut short, say) means a
        # signed file was changed, not that it never was a report.
        result.signature_unreadable = b"/ByteRange" in pdf_bytes
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
