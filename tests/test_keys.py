"""Signing keys: made, protected by the passphrase, imported only when it opens."""
from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from engine.cli.main import main
from engine.errors import SafeVetError
from engine.report.keys import (DOCUMENT_SIGNING_EKU, WrongPassphraseError, create_signing_identity,
                                default_key, import_key, load_signing_identity)

PW = "a long enough passphrase"


def test_init_writes_protected_p12_pem_and_csr(tmp_path):
    files = create_signing_identity("St Example Hospital", tmp_path / "k.p12", PW,
                                    csr_path=tmp_path / "k.csr", days=10)
    assert files.p12.stat().st_mode & 0o077 == 0, "key file must be owner-only"
    assert PW.encode() not in files.p12.read_bytes()
    cert = x509.load_pem_x509_certificate(files.cert_pem.read_bytes())
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.content_commitment and not ku.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert DOCUMENT_SIGNING_EKU in list(eku)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 10
    csr = x509.load_pem_x509_csr(files.csr.read_bytes())
    assert csr.is_signature_valid
    assert csr.public_key().public_numbers() == cert.public_key().public_numbers()
    ident = load_signing_identity(files.p12, PW)
    assert ident.organization == "St Example Hospital"
    assert "St Example Hospital" in ident.subject_cn


def test_wrong_passphrase_is_a_clear_error(tmp_path):
    files = create_signing_identity("Hosp", tmp_path / "k.p12", PW)
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        load_signing_identity(files.p12, "not the passphrase")


def test_import_checks_passphrase_before_copying(tmp_path):
    files = create_signing_identity("Hosp", tmp_path / "k.p12", PW)
    keys_dir = tmp_path / "ws-keys"
    with pytest.raises(WrongPassphraseError):
        import_key(keys_dir, files.p12, "wrong passphrase!")
    assert not list(keys_dir.glob("*")) if keys_dir.exists() else True
    dest = import_key(keys_dir, files.p12, PW)
    assert dest.read_bytes() == files.p12.read_bytes()
    assert dest.with_suffix(".cert.pem").read_bytes() == files.cert_pem.read_bytes()
    assert default_key(keys_dir) == dest
    with pytest.raises(SafeVetError, match="already exists"):
        import_key(keys_dir, files.p12, PW)


def test_refuses_short_passphrase_and_overwrite(tmp_path):
    with pytest.raises(SafeVetError, match="at least 8"):
        create_signing_identity("Hosp", tmp_path / "k.p12", "short")
    create_signing_identity("Hosp", tmp_path / "k.p12", PW)
    with pytest.raises(SafeVetError, match="already exists"):
        create_signing_identity("Hosp", tmp_path / "k.p12", PW)


def test_cli_keys_init_and_import(tmp_path, workspace, monkeypatch, capsys):
    monkeypatch.setenv("SAFEVET_KEY_PASSPHRASE", PW)
    out = tmp_path / "hosp.p12"
    assert main(["keys", "init", "--org", "Hosp", "--out", str(out), "--csr",
                 str(tmp_path / "hosp.csr"), "--days", "30"]) == 0
    assert out.exists() and (tmp_path / "hosp.cert.pem").exists() and (tmp_path / "hosp.csr").exists()
    assert main(["keys", "import", str(out)]) == 0
    assert (workspace.keys_dir / "hosp.p12").exists()
    monkeypatch.setenv("SAFEVET_KEY_PASSPHRASE", "definitely wrong")
    (workspace.keys_dir / "hosp.p12").unlink()
    assert main(["keys", "import", str(out)]) == 2
    captured = capsys.readouterr()
    assert "wrong passphrase" in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert PW not in captured.err + captured.out
    assert not (workspace.keys_dir / "hosp.p12").exists()


def test_cli_init_prompts_hidden_and_confirmed(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from engine.cli.main import app
    monkeypatch.delenv("SAFEVET_KEY_PASSPHRASE", raising=False)
    out = tmp_path / "p.p12"
    runner = CliRunner()
    res = runner.invoke(app, ["--home", str(tmp_path / "ws"), "keys", "init", "--org", "Hosp",
                              "--out", str(out)], input=f"{PW}\nsomething else\n{PW}\n{PW}\n")
    assert res.exit_code == 0, res.output
    assert "do not match" in res.output.lower()        # confirmation caught the typo
    assert PW not in res.output                         # hidden: never echoed
    assert load_signing_identity(out, PW).organization == "Hosp"
