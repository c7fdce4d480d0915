"""The unsigned parts of the signature's CMS are held to the exact shape SafeVet writes.

The signature covers the PDF and the CMS signed attributes only; a flipped byte in
the digest-algorithms list, a CRL or unsigned attribute slipped in, or a long-form
length would otherwise pass `safevet verify` while pdfsig rejects the file. Each
case edits a real signed report inside its /Contents hex string (uppercase, same
length, zero padding kept) and runs the real verification on it.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from asn1crypto import cms

from engine.cli.main import main
from engine.report.build import build_report
from engine.report.cms_shape import cms_shape_problems
from engine.report.verify import VerificationResult, verify_report
from tests.report_fixtures import MODEL, PASSPHRASE, RUN_ID, make_key, make_run_workspace

# DigestAlgorithms SET as SafeVet writes it: 31 0f | 30 0d | 06 09 <sha256 OID> | 05 00
SET_LENGTH = 17
OID_VALUE_BYTES = range(6, 15)
PARAMETER_BYTES = range(15, 17)


@dataclass(frozen=True)
class SignedReport:
    """A genuine signed report and where its DER CMS sits inside the file."""

    home: Path
    pdf: Path
    cert: Path
    data: bytes
    hex_start: int      # file offset of the first hex digit inside /Contents < >
    hex_len: int
    der: bytes

    def flipped(self, der_offset: int, mask: int = 0x01) -> bytes:
        """The file with one DER byte changed, written back as uppercase hex in place."""
        pos = self.hex_start + 2 * der_offset
        value = int(self.data[pos:pos + 2], 16) ^ mask
        return self.data[:pos] + b"%02X" % value + self.data[pos + 2:]

    def with_der(self, der: bytes) -> bytes:
        """The file with a re-encoded CMS, zero-padded to the placeholder's length."""
        hex_text = der.hex().upper().encode("ascii")
        assert len(hex_text) <= self.hex_len, "re-encoded CMS does not fit the placeholder"
        padded = hex_text.ljust(self.hex_len, b"0")
        return self.data[:self.hex_start] + padded + self.data[self.hex_start + self.hex_len:]

    def verify(self, tmp_path: Path, name: str, data: bytes) -> VerificationResult:
        target = tmp_path / f"{name}.pdf"
        target.write_bytes(data)
        return verify_report(target, self.cert)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> SignedReport:
    """One real report, signed once for the module (signing takes seconds)."""
    home = tmp_path_factory.mktemp("cms-ws")
    ws, store, suite = make_run_workspace(home)
    keys = make_key(home)
    pdf = build_report(ws, store, RUN_ID, MODEL, keys.p12, PASSPHRASE, out_dir=home / "out")
    store.close()
    data = pdf.read_bytes()
    b0, l0, b1, _ = map(int, re.search(
        rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", data).groups())
    hex_start, hex_end = b0 + l0 + 1, b1 - 1
    raw = bytes.fromhex(data[hex_start:hex_end].decode("ascii"))
    der = raw[:len(cms.ContentInfo.load(raw).dump())]
    return SignedReport(home=home, pdf=pdf, cert=keys.cert_pem, data=data,
                        hex_start=hex_start, hex_len=hex_end - hex_start, der=der)


def _signed_data(der: bytes) -> cms.SignedData:
    return cms.ContentInfo.load(der)["content"]


def _offset(der: bytes, part: bytes, after: int = 0) -> int:
    pos = der.find(part, after)
    assert pos >= 0, f"{part.hex()} not found in the CMS"
    return pos


def _digest_set_offset(der: bytes) -> int:
    digest_set = _signed_data(der)["digest_algorithms"].dump()
    assert len(digest_set) == SET_LENGTH and der.count(digest_set) == 1
    return _offset(der, digest_set)


def _rejected_as_cms(result: VerificationResult) -> bool:
    return not result.ok and any("CMS" in p for p in result.problems)


def test_genuine_report_verifies_and_has_safevet_shape(report, tmp_path):
    result = report.verify(tmp_path, "genuine", report.data)
    assert result.ok, result.problems
    assert cms_shape_problems(report.der) == []
    sd = _signed_data(report.der).native
    signer = sd["signer_infos"][0]
    # What pyhanko writes for SafeVet today; a library upgrade that changes it shows here.
    assert sd["version"] == "v1" and sd["crls"] is None
    assert sd["digest_algorithms"] == [{"algorithm": "sha256", "parameters": None}]
    assert sd["encap_content_info"] == {"content_type": "data", "content": None}
    assert len(sd["signer_infos"]) == 1 and signer["version"] == "v1"
    assert signer["signature_algorithm"]["algorithm"] == "sha256_rsa"
    assert signer["unsigned_attrs"] is None


@pytest.mark.parametrize("byte", range(SET_LENGTH))
def test_every_digest_algorithms_byte_flip_is_rejected(report, tmp_path, byte):
    data = report.flipped(_digest_set_offset(report.der) + byte)
    assert len(data) == len(report.data)
    result = report.verify(tmp_path, f"digest-set-{byte}", data)
    assert _rejected_as_cms(result), result.problems
    if byte in OID_VALUE_BYTES or byte in PARAMETER_BYTES:
        assert any(re.search(r"digest[ _]algorithms", p) for p in result.problems), \
            result.problems


def _flip_signed_data_version(report: SignedReport) -> bytes:
    sd = _signed_data(report.der)
    header = len(sd.dump()) - len(sd.contents)
    return report.flipped(_offset(report.der, sd.dump()) + header + 2)   # 02 01 <01>


def _flip_signer_parameter(field: str):
    """Flip the NULL tag (05 -> 04) of an algorithm inside the SignerInfo."""
    def edit(report: SignedReport) -> bytes:
        si = _signed_data(report.der)["signer_infos"][0]
        algorithm = si[field].dump()
        at = _offset(report.der, algorithm, _offset(report.der, si.dump()))
        return report.flipped(at + len(algorithm) - 2)
    return edit


def _flip_encap_content_type(report: SignedReport) -> bytes:
    eci = _signed_data(report.der)["encap_content_info"].dump()
    return report.flipped(_offset(report.der, eci) + len(eci) - 1)


def _add_unsigned_attribute(report: SignedReport) -> bytes:
    info = cms.ContentInfo.load(report.der)
    when = cms.Time({"utc_time": datetime(2024, 1, 1, tzinfo=timezone.utc)})
    info["content"]["signer_infos"][0]["unsigned_attrs"] = cms.CMSAttributes(
        [cms.CMSAttribute({"type": "signing_time", "values": [when]})])
    return report.with_der(info.dump(force=True))


def _add_empty_crls(report: SignedReport) -> bytes:
    info = cms.ContentInfo.load(report.der)
    info["content"]["crls"] = cms.RevocationInfoChoices([])
    return report.with_der(info.dump(force=True))


def _long_form_outer_length(report: SignedReport) -> bytes:
    """30 82 LL LL -> 30 83 00 LL LL: same value, not DER; lengths inside are unchanged."""
    der = report.der
    assert der[:2] == b"\x30\x82"
    return report.with_der(b"\x30\x83\x00" + der[2:])


OTHER_EDITS = {
    "signed-data-version": _flip_signed_data_version,
    "signer-digest-parameters": _flip_signer_parameter("digest_algorithm"),
    "signature-algorithm-parameters": _flip_signer_parameter("signature_algorithm"),
    "encap-content-type": _flip_encap_content_type,
    "unsigned-attribute-added": _add_unsigned_attribute,
    "empty-crls-added": _add_empty_crls,
    "long-form-outer-length": _long_form_outer_length,
}


@pytest.mark.parametrize("name", OTHER_EDITS)
def test_other_unsigned_cms_edits_are_rejected(report, tmp_path, name):
    data = OTHER_EDITS[name](report)
    assert len(data) == len(report.data)
    result = report.verify(tmp_path, name, data)
    assert _rejected_as_cms(result), result.problems


def test_cli_verify_fails_cleanly_on_a_flipped_digest_oid(report, tmp_path, capsys,
                                                         monkeypatch):
    monkeypatch.setenv("SAFEVET_HOME", str(report.home))
    bad = tmp_path / "flipped-oid.pdf"
    bad.write_bytes(report.flipped(_digest_set_offset(report.der) + OID_VALUE_BYTES[0]))
    assert main(["verify", str(bad), "--trust", str(report.cert)]) != 0
    captured = capsys.readouterr()
    assert "verification FAILED" in captured.err and "Traceback" not in captured.err
    assert "digest algorithms" in " ".join(captured.out.split())   # rich may wrap lines


def test_shape_check_never_raises_on_hostile_bytes(report):
    rng = random.Random(14)
    garbage = [b"", b"\x30", b"\x30\x00", b"\x30\x03\x06\x01\x00", b"\x31\x00",
               report.der[:100], bytes(rng.randrange(256) for _ in range(300))]
    for blob in garbage:
        problems = cms_shape_problems(blob)
        assert problems and all("\n" not in p for p in problems), (blob[:8], problems)
    for pos in rng.sample(range(len(report.der)), 150):
        mutated = bytearray(report.der)
        mutated[pos] ^= 1 << rng.randrange(8)
        problems = cms_shape_problems(bytes(mutated))
        assert all(isinstance(p, str) and "\n" not in p for p in problems)
