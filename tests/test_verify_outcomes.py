"""One verdict per check, worded for the reader: trusted, not chosen to trust, changed.

Real reports signed with keys made by the production code: the hospital's, a
second institution's, and the demo key `make demo` makes. Each outcome is read
through VerificationResult.outcome and through `safevet verify`, which must name
the signer and the trust certificate and never print a traceback.
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.report.build import build_report
from engine.report.demo_support import demo_reports
from engine.report.keys import DEMO_COMMON_NAME, KeyFiles, create_signing_identity
from engine.report.trust import (TRUST_SETTING, TrustSettingError, TrustSource,
                                 choose_trust_cert, default_trust_anchor, resolve_trust_anchor,
                                 trust_setting_path)
from engine.report.verify import VerificationResult, VerifyOutcome, verify_report
from engine.workspace import Workspace
from tests.report_fixtures import (MODEL, PASSPHRASE, RUN_ID, make_key, make_run_workspace,
                                   write_unsigned_pdf)

HOSPITAL = "St Example Hospital"
OTHER = "Other Infirmary"


@dataclass(frozen=True)
class Signed:
    ws: Workspace
    pdf: Path            # signed with the hospital key
    demo_pdf: Path       # signed with the demo key
    hospital: KeyFiles
    other: KeyFiles
    demo_cert: Path


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> Signed:
    """Two real reports of one run: the hospital's and the demo key's (signing takes seconds)."""
    home = tmp_path_factory.mktemp("outcomes-ws")
    ws, store, suite = make_run_workspace(home)
    hospital = make_key(home)
    other = create_signing_identity(OTHER, home / "other.p12", PASSPHRASE, days=30)
    pdf = build_report(ws, store, RUN_ID, MODEL, hospital.p12, PASSPHRASE, out_dir=home / "out")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SAFEVET_KEY_PASSPHRASE", raising=False)
        (demo,) = demo_reports(ws, store, RUN_ID, say=lambda _: None)
    store.close()
    return Signed(ws=ws, pdf=pdf, demo_pdf=demo.path, hospital=hospital, other=other,
                  demo_cert=ws.keys_dir / "demo" / "demo-signing.cert.pem")


def _flip_middle(src: Path, dest: Path) -> Path:
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0x01
    dest.write_bytes(bytes(data))
    return dest


def _cli(capsys, home: Path, pdf: Path, cert: Path) -> tuple[int, str, str]:
    rc = main(["--home", str(home), "verify", str(pdf), "--trust", str(cert)])
    out = capsys.readouterr()
    return rc, " ".join(out.out.split()), out.err   # rich wraps long lines


def _no_library_noise(caplog) -> None:
    noisy = [r for r in caplog.records if r.name.startswith(("pyhanko", "pypdf"))]
    assert not noisy, [r.getMessage()[:120] for r in noisy]


def test_genuine_report_against_its_certificate_is_valid_and_trusted(signed, capsys, caplog):
    r = verify_report(signed.pdf, signed.hospital.cert_pem, signed.ws)
    assert r.ok and r.outcome is VerifyOutcome.TRUSTED
    assert r.outcome.headline == "signature valid and trusted"
    assert r.signer_cert is not None and r.trust_cert is not None
    assert r.signer_cert.sha256 == r.trust_cert.sha256 and not r.signer_is_demo
    text = r.explanation()
    assert text.startswith(f"Signed by {HOSPITAL} SafeVet report signing")
    assert "checked against" in text and "signer.cert.pem" in text and "DEMO" not in text
    rc, out, err = _cli(capsys, signed.ws.home, signed.pdf, signed.hospital.cert_pem)
    assert rc == 0 and "Valid: signature valid and trusted" in out
    assert "verification passed" in out and "Traceback" not in err
    _no_library_noise(caplog)


def test_other_certificate_is_signed_by_one_you_have_not_chosen(signed, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    r = verify_report(signed.pdf, signed.other.cert_pem, signed.ws)
    assert (r.intact, r.valid, r.trusted) == (True, True, False)
    assert r.outcome is VerifyOutcome.UNTRUSTED and not r.ok
    assert r.outcome.headline == "signed by a certificate you have not chosen to trust"
    text = r.explanation()
    assert f"signed by {HOSPITAL} SafeVet report signing ({HOSPITAL})" in text
    assert f"the certificate you trust is {OTHER} SafeVet report signing ({OTHER})" in text
    rc, out, err = _cli(capsys, signed.ws.home, signed.pdf, signed.other.cert_pem)
    assert rc == 1  # a check that ran and failed
    assert "Not trusted: signed by a certificate you have not chosen to trust" in out
    assert HOSPITAL in out and OTHER in out and "other.cert.pem" in out
    assert "verification FAILED" in err and "not chosen to trust" in err
    for noise in ("Traceback", "Validation error", "PathBuildingError"):
        assert noise not in err and noise not in out
    _no_library_noise(caplog)   # pyhanko logs its traceback at WARNING: quieted


def test_one_flipped_byte_is_the_file_changed_after_signing(signed, tmp_path, capsys):
    bad = _flip_middle(signed.pdf, tmp_path / "flipped.pdf")
    for cert in (signed.hospital.cert_pem, signed.other.cert_pem):
        r = verify_report(bad, cert)
        assert r.outcome is VerifyOutcome.CHANGED, (cert, r.problems)
        assert r.outcome.headline == "the file was changed after signing"
        assert "do not rely on this report" in r.explanation()
    rc, out, err = _cli(capsys, signed.ws.home, bad, signed.hospital.cert_pem)
    assert rc == 1 and "NOT valid: the file was changed after signing" in out
    assert "changed after signing" in err and "Traceback" not in err


def test_cut_short_or_extended_files_are_changed_and_unsigned_ones_are_no_report(signed,
                                                                                 tmp_path):
    data = signed.pdf.read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[:len(data) - 200])
    grown = tmp_path / "grown.pdf"
    grown.write_bytes(data + b"\n% appended after signing\n")
    for path in (cut, grown):
        assert verify_report(path, signed.hospital.cert_pem).outcome is VerifyOutcome.CHANGED
    unsigned = write_unsigned_pdf(tmp_path / "unsigned.pdf")
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\nthis is not really a pdf\n")
    for path in (unsigned, garbage):
        r = verify_report(path, signed.hospital.cert_pem)
        assert r.outcome is VerifyOutcome.NOT_A_REPORT
        assert r.outcome.headline == "not a signed SafeVet report"


def test_demo_key_signature_is_always_labelled_demo(signed, capsys):
    trusted = verify_report(signed.demo_pdf, signed.demo_cert, signed.ws)
    assert trusted.outcome is VerifyOutcome.TRUSTED and trusted.signer_is_demo
    assert trusted.signer == DEMO_COMMON_NAME
    assert "DEMO key, not for clinical use" in trusted.signer_text()
    assert "DEMO signature" in trusted.explanation()
    assert "DEMO key" in trusted.trust_text()          # the demo certificate says so too
    untrusted = verify_report(signed.demo_pdf, signed.hospital.cert_pem, signed.ws)
    assert untrusted.outcome is VerifyOutcome.UNTRUSTED and untrusted.signer_is_demo
    assert "DEMO" in untrusted.explanation() and HOSPITAL in untrusted.explanation()
    rc, out, _ = _cli(capsys, signed.ws.home, signed.demo_pdf, signed.demo_cert)
    assert rc == 0 and "DEMO signature" in out and "DEMO key, not for clinical use" in out
    rc, out, err = _cli(capsys, signed.ws.home, signed.demo_pdf, signed.hospital.cert_pem)
    assert rc == 1 and "not chosen to trust" in out and "DEMO" in out
    assert "Traceback" not in err


def test_figures_changed_in_the_store_are_their_own_outcome(signed, tmp_path):
    import sqlite3

    home = tmp_path / "copy"
    shutil.copytree(signed.ws.home, home)
    ws = Workspace.open(home)
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute("UPDATE calls SET chosen='A' WHERE id=(SELECT MIN(id) FROM calls "
                     "WHERE chosen='B')")
    r = verify_report(signed.pdf, signed.hospital.cert_pem, ws)
    assert r.outcome is VerifyOutcome.FIGURES_DIFFER and not r.ok


def test_every_outcome_is_trusted_only_when_ok():
    """The classification never gives a green tick to a result `ok` refuses."""
    base = dict(path="x.pdf", signatures=1, intact=True, valid=True, trusted=True,
                covers_whole_file=True, manifest_found=True)
    assert VerificationResult(**base).outcome is VerifyOutcome.TRUSTED
    cases = {VerifyOutcome.CHANGED: [dict(intact=False), dict(valid=False),
                                     dict(covers_whole_file=False), dict(signatures=2),
                                     dict(signature_altered=True)],
             VerifyOutcome.UNTRUSTED: [dict(trusted=False)],
             VerifyOutcome.MANIFEST_PROBLEM: [dict(manifest_found=False)],
             VerifyOutcome.FIGURES_DIFFER: [dict(store_matches=False)],
             VerifyOutcome.NOT_A_REPORT: [dict(signatures=0)]}
    for outcome, changes in cases.items():
        for change in changes:
            r = VerificationResult(**{**base, **change})
            assert r.outcome is outcome and not r.ok, change
    odd = VerificationResult(**base, problems=["something unforeseen"])
    assert not odd.ok and odd.outcome is VerifyOutcome.CHANGED


# -- the workspace's trust certificate ---------------------------------------------------
def _place(cert: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / name
    shutil.copyfile(cert, dest)
    return dest


def test_trust_choice_is_remembered_in_the_workspace(signed, workspace):
    assert resolve_trust_anchor(workspace) is None          # nothing to trust yet
    demo = _place(signed.demo_cert, workspace.keys_dir / "demo", "demo-signing.cert.pem")
    offer = default_trust_anchor(workspace)
    assert offer is not None and offer.source is TrustSource.ONLY_DEMO and offer.usable
    assert "not chosen by you" in offer.describe() and "DEMO" in offer.describe()
    hospital = _place(signed.hospital.cert_pem, workspace.keys_dir, "signer.cert.pem")
    offer = resolve_trust_anchor(workspace)
    assert offer.source is TrustSource.ONLY_INSTITUTION and offer.path == hospital
    _place(signed.other.cert_pem, workspace.keys_dir, "other.cert.pem")
    assert resolve_trust_anchor(workspace) is None         # two institutions: ask

    chosen = choose_trust_cert(workspace, demo)
    assert trust_setting_path(workspace) == workspace.home / TRUST_SETTING
    setting = json.loads(trust_setting_path(workspace).read_text(encoding="utf-8"))
    assert setting["certificate"] == str(demo.resolve())
    assert setting["sha256"] == chosen.identity.sha256
    again = resolve_trust_anchor(Workspace.open(workspace.home))
    assert again.source is TrustSource.CHOSEN and again.path == demo.resolve() and again.usable
    assert "chosen by you" in again.describe()

    # `make demo` remakes its key at the same path: the old choice is not silently moved
    shutil.copyfile(signed.hospital.cert_pem, demo)
    replaced = resolve_trust_anchor(workspace)
    assert replaced.source is TrustSource.CHOSEN and not replaced.usable
    assert "different certificate" in replaced.problem


def test_only_a_certificate_can_be_chosen(workspace, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate", encoding="utf-8")
    with pytest.raises(TrustSettingError, match="not an X.509 certificate"):
        choose_trust_cert(workspace, junk)
    with pytest.raises(TrustSettingError, match="not found"):
        choose_trust_cert(workspace, tmp_path / "missing.pem")
    assert not trust_setting_path(workspace).exists()
    trust_setting_path(workspace).write_text("{ broken", encoding="utf-8")
    broken = resolve_trust_anchor(workspace)
    assert broken is not None and not broken.usable and "choose the certificate again" in \
        broken.problem
