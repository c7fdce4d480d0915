"""A generated report from a real results store: it validates, any changed byte is caught,
and the figures printed on its pages equal a fresh computation from the store."""
from __future__ import annotations

import sqlite3

import json
import random
import re
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader

from engine.cli.main import main
from engine.errors import NotFoundError
from engine.metrics.compute import compute_run_metrics
from engine.report.build import build_report
from engine.report.keys import WrongPassphraseError
from engine.report.verify import extract_manifest, verify_report
from engine.store.db import ResultsStore
from engine.suites.io import load_suite
from engine.workspace import Workspace
from tests.report_fixtures import (MODEL, PASSPHRASE, RUN_ID, SUITE_ID, make_key,
                                   make_model_manifest, make_run, make_suite)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One workspace, run and signed report shared by the read-only tests below."""
    home = tmp_path_factory.mktemp("report-ws")
    ws = Workspace.open(home)
    suite = make_suite(ws)
    files = make_model_manifest(ws)
    store = ResultsStore(ws.db_path)
    make_run(ws, store, suite)
    keys = make_key(home)
    events = []
    pdf = build_report(ws, store, RUN_ID, MODEL, keys.p12, PASSPHRASE, out_dir=home / "out",
                       progress=events.append)
    store.close()
    return {"ws": ws, "pdf": pdf, "keys": keys, "events": events, "files": files,
            "suite": suite}


def _text(pdf: Path) -> str:
    reader = PdfReader(str(pdf))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def _fresh_metrics(ws: Workspace):
    store = ResultsStore(ws.db_path)
    try:
        suite = load_suite(ws.suites_dir / SUITE_ID)
        return compute_run_metrics(store, RUN_ID, {SUITE_ID: suite}, tau=0.8, n_boot=2000,
                                   seed=0, models=[MODEL])
    finally:
        store.close()


def test_generated_report_validates(built):
    r = verify_report(built["pdf"], built["keys"].cert_pem, built["ws"])
    assert r.ok, r.problems
    assert (r.intact, r.valid, r.trusted, r.covers_whole_file) == (True, True, True, True)
    assert r.signer and "St Example Hospital" in r.signer
    assert r.organisation == "St Example Hospital"
    assert r.signing_time is not None
    assert r.store_checked and r.store_matches
    assert (r.run_id, r.model) == (RUN_ID, MODEL)
    stages = [e.stage for e in built["events"]]
    assert stages and set(stages) == {"report"} and built["events"][-1].done == 5


def test_untrusted_certificate_is_not_trusted(built, tmp_path):
    other = make_key(tmp_path)
    r = verify_report(built["pdf"], other.cert_pem)
    assert r.intact and not r.trusted and not r.ok


def _flip(data: bytes, pos: int) -> bytes:
    d = bytearray(data)
    c = d[pos]
    if chr(c) in "0123456789ABCDEFabcdef":
        d[pos] = ord("1") if c == ord("0") else ord("0")
    else:
        d[pos] = c ^ 0x01
    return bytes(d)


def _positions(data: bytes) -> dict[str, int]:
    b0, l0, b1, _ = map(int, re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)",
                                       data).groups())
    contents = data[b0 + l0:b1]
    der_hex_end = len(contents.rstrip(b"0>"))
    ef = data.find(b"/EmbeddedFile")
    stream = data.find(b"stream", ef) + 10
    pos = {"header": 5, "first-page": len(data) // 10, "middle": len(data) // 2,
           "embedded-manifest": stream, "sig-dict-byterange": data.find(b"/ByteRange") + 14,
           "sig-value": b0 + l0 + 120, "sig-padding": b0 + l0 + der_hex_end + 50,
           "sig-padding-end": b1 - 2, "after-signature": b1 + 100, "last-byte": len(data) - 2}
    rng = random.Random(7)
    for i in range(12):
        pos[f"random-{i}"] = rng.randrange(len(data))
    return pos


def test_flipping_one_byte_anywhere_fails_verification(built, tmp_path):
    data = built["pdf"].read_bytes()
    failures = []
    for name, pos in _positions(data).items():
        target = tmp_path / f"flip-{name}.pdf"
        target.write_bytes(_flip(data, pos))
        result = verify_report(target, built["keys"].cert_pem)
        if result.ok:
            failures.append(f"{name} @ {pos}")
    assert not failures, f"tampering not detected at: {failures}"


def test_cli_verify_exit_codes(built, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SAFEVET_HOME", str(built["ws"].home))
    assert main(["verify", str(built["pdf"]), "--trust", str(built["keys"].cert_pem)]) == 0
    out = capsys.readouterr().out
    assert "verification passed" in out
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(_flip(built["pdf"].read_bytes(), len(built["pdf"].read_bytes()) // 2))
    assert main(["verify", str(bad), "--trust", str(built["keys"].cert_pem)]) == 1
    captured = capsys.readouterr()
    assert "verification FAILED" in captured.err and "Traceback" not in captured.err


def _parse_appendix(text: str) -> dict[str, tuple]:
    flat = re.sub(r"\s+", " ", text)
    out = {}
    pat = re.compile(r"(mcq/[\w.@-]+/\w+/\w+) = ([\d.]+|NA) \[([\d.]+|NA), ([\d.]+|NA)\] n=(\d+)")
    for m in pat.finditer(flat):
        out[m.group(1)] = tuple(None if g == "NA" else float(g) for g in m.groups()[1:4]) + (
            int(m.group(5)),)
    return out


def test_figures_in_pdf_text_equal_the_store(built):
    text = _text(built["pdf"])
    fresh = _fresh_metrics(built["ws"])
    assert len(fresh.mcq) == 3
    printed = _parse_appendix(text)
    flat = re.sub(r"\s+", " ", text)
    for cell in fresh.mcq:
        for name in ("accuracy", "high_risk_error_rate", "unsafe_answer_rate",
                     "contradiction_rate", "dangerous_overconfidence"):
            e = getattr(cell, name)
            key = f"mcq/{cell.suite_id}@{cell.suite_version}/{cell.condition}/{name}"
            assert key in printed, key
            v, lo, hi, n = printed[key]
            assert n == e.n
            for got, want in ((v, e.value), (lo, e.low), (hi, e.high)):
                assert got == pytest.approx(want, abs=5e-7), key
            # and the per-condition table shows the same figure, rounded for reading
            shown = f"{e.value * 100:.1f}% ({e.low * 100:.1f}–{e.high * 100:.1f})"
            assert shown in flat, (key, shown)
    w = fresh.worst_case
    assert f"worst_case/total_high_risk_errors = {w.total_high_risk_errors}" in flat


def test_embedded_manifest_holds_every_hash_and_figure(built):
    manifest = json.loads(extract_manifest(built["pdf"].read_bytes()))
    fresh = _fresh_metrics(built["ws"])
    assert manifest["metrics"] == json.loads(fresh.model_dump_json())
    assert manifest["model_manifest"]["files"] == built["files"]
    assert manifest["suites"][0]["items_sha256"] == built["suite"].manifest.items_sha256
    assert manifest["suites"][0]["items_run"] == 16
    assert len(manifest["thresholds"]["sha256"]) == 64
    assert manifest["overall_verdict"] in ("PASS", "FAIL", "NOT FULLY ASSESSED")
    assert {v["verdict"] for v in manifest["verdicts"]} <= {"PASS", "FAIL", "NOT ASSESSED"}
    assert manifest["software"]["reportlab"]
    assert manifest["metric_params"] == {"tau": 0.8, "n_boot": 2000, "seed": 0,
                                         "call_order": "key"}


def test_cover_states_profile_identity_and_verdict(built):
    text = re.sub(r"\s+", " ", _text(built["pdf"]))
    for needle in ("Run profile: demo", "smaller than a full evaluation", RUN_ID, MODEL,
                   "it-operator", "CPUExecutionProvider", built["files"]["model.onnx"],
                   built["suite"].manifest.items_sha256, "16 / 16", "Overall",
                   "SafeVet's own operational definition", "τ = 0.8",
                   "A maximum passes only if the upper bound",
                   "Appendix: raw-figure manifest", "31.50",
                   "attention fused (ONNX Attention, 2 layers)"):
        assert needle in text, needle


def test_visible_signature_block_is_on_the_last_page(built):
    reader = PdfReader(str(built["pdf"]))
    last = reader.pages[-1]
    widgets = [a.get_object() for a in last.get("/Annots", [])]
    sig = [w for w in widgets if w.get("/FT") == "/Sig" or
           (w.get("/Parent") and w["/Parent"].get_object().get("/FT") == "/Sig")]
    assert len(sig) == 1
    x1, y1, x2, y2 = [float(v) for v in sig[0]["/Rect"]]
    assert x2 - x1 > 200 and y2 - y1 > 50, "signature block must be visible, not zero-size"
    appearance = sig[0]["/AP"]["/N"].get_object().get_data()
    assert b"Digitally signed by" in appearance
    assert all("/Sig" not in str(a.get_object().get("/FT")) for p in reader.pages[:-1]
               for a in p.get("/Annots", []))


def test_store_changed_after_signing_is_detected(built, tmp_path):
    home = tmp_path / "copy"
    shutil.copytree(built["ws"].home, home)
    ws = Workspace.open(home)
    with sqlite3.connect(ws.db_path) as conn:  # an edit made behind SafeVet's back
        conn.execute("UPDATE calls SET chosen='A' WHERE id=(SELECT MIN(id) FROM calls "
                     "WHERE chosen='B')")
    r = verify_report(built["pdf"], built["keys"].cert_pem, ws)
    assert r.intact and r.trusted
    assert r.store_matches is False and not r.ok
    assert any("differ" in p for p in r.problems)


def test_wrong_passphrase_is_a_clear_error_and_writes_nothing(built, tmp_path):
    store = ResultsStore(built["ws"].db_path)
    try:
        with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
            build_report(built["ws"], store, RUN_ID, MODEL, built["keys"].p12, "not it at all",
                         out_dir=tmp_path)
        with pytest.raises(NotFoundError, match="not part of run"):
            build_report(built["ws"], store, RUN_ID, "nobody", built["keys"].p12, PASSPHRASE,
                         out_dir=tmp_path)
    finally:
        store.close()
    assert not list(tmp_path.glob("*.pdf"))


def test_cli_report_writes_a_verifiable_pdf(built, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAFEVET_HOME", str(built["ws"].home))
    monkeypatch.setenv("SAFEVET_KEY_PASSPHRASE", PASSPHRASE)
    out = tmp_path / "reports"
    assert main(["report", RUN_ID, "--key", str(built["keys"].p12), "--out", str(out)]) == 0
    pdfs = list(out.glob("*.pdf"))
    assert len(pdfs) == 1
    assert PASSPHRASE not in capsys.readouterr().out
    assert verify_report(pdfs[0], built["keys"].cert_pem, built["ws"]).ok
    monkeypatch.setenv("SAFEVET_KEY_PASSPHRASE", "wrong passphrase")
    assert main(["report", RUN_ID, "--key", str(built["keys"].p12), "--out", str(out)]) == 2
    assert "wrong passphrase" in capsys.readouterr().err


def test_garbage_and_unsigned_files_fail_cleanly(built, tmp_path):
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\nthis is not really a pdf\n")
    r = verify_report(garbage, built["keys"].cert_pem)
    assert not r.ok and r.problems
    from tests.report_fixtures import write_unsigned_pdf
    unsigned = write_unsigned_pdf(tmp_path / "unsigned.pdf")
    r = verify_report(unsigned, built["keys"].cert_pem)
    assert not r.ok and r.signatures == 0
    assert any("exactly one signature" in p for p in r.problems)
    # truncated after the signature: no longer the signed file
    data = built["pdf"].read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: len(data) - 200])
    assert not verify_report(cut, built["keys"].cert_pem).ok
    # bytes appended after the signed file (an incremental update) are not covered
    grown = tmp_path / "grown.pdf"
    grown.write_bytes(data + b"\n% appended after signing\n")
    assert not verify_report(grown, built["keys"].cert_pem).ok


def test_poppler_pdfsig_reads_the_signature(built):
    """An independent implementation (poppler/NSS) agrees the signature is valid."""
    import subprocess
    exe = shutil.which("pdfsig")
    if exe is None:
        pytest.skip("poppler-utils (pdfsig) not installed")
    out = subprocess.run([exe, str(built["pdf"])], capture_output=True, text=True, timeout=60)
    assert "Signature is Valid" in out.stdout, out.stdout
    assert "Total document signed" in out.stdout
    assert "SHA-256" in out.stdout
