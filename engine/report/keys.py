"""The institution's signing identity: a key and certificate in a passphrase-protected PKCS#12.

The passphrase only ever comes from a hidden prompt or SAFEVET_KEY_PASSPHRASE and
is never written or logged, so whoever holds the .p12 file alone cannot sign a
report in the hospital's name.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID, ObjectIdentifier

from engine.errors import SafeVetError

PASSPHRASE_ENV = "SAFEVET_KEY_PASSPHRASE"
# id-kp-documentSigning (RFC 9336): says what the certificate is for.
DOCUMENT_SIGNING_EKU = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
MIN_PASSPHRASE_LEN = 8
# The demo key `make demo` makes when there is no institution key. Its names are how any
# report it signed is recognised and labelled DEMO, whichever copy of the key signed it
# (the demo key is remade on every demo, so its fingerprint cannot be the mark).
DEMO_ORG = "SafeVet demonstration (not for clinical use)"
DEMO_COMMON_NAME = "SafeVet DEMO signing key"
DEMO_KEYS_SUBDIR = "demo"


class KeyError_(SafeVetError):
    """A signing key cannot be made, read or unlocked."""


class WrongPassphraseError(KeyError_):
    """The passphrase does not open the PKCS#12 file (or the file is not PKCS#12)."""


@dataclass(frozen=True)
class KeyFiles:
    """What `keys init` wrote; the PEM certificate is what verifiers pass to --trust."""

    p12: Path
    cert_pem: Path
    csr: Path | None


@dataclass(frozen=True)
class SigningIdentity:
    """An unlocked identity, held in memory only for the time of one signing."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    extra_certs: tuple[x509.Certificate, ...]

    @property
    def subject_cn(self) -> str:
        return _name_attr(self.cert.subject, NameOID.COMMON_NAME)

    @property
    def organization(self) -> str:
        return _name_attr(self.cert.subject, NameOID.ORGANIZATION_NAME)


def _name_attr(name: x509.Name, oid: ObjectIdentifier) -> str:
    attrs = name.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else ""


def _as_bytes(passphrase: str | bytes) -> bytes:
    return passphrase if isinstance(passphrase, bytes) else passphrase.encode("utf-8")


def passphrase_from_env() -> str | None:
    """SAFEVET_KEY_PASSPHRASE if set and non-empty (for unattended `make demo` and CI)."""
    value = os.environ.get(PASSPHRASE_ENV)
    return value or None


def create_signing_identity(org: str, out_p12: str | Path, passphrase: str | bytes, *,
                            common_name: str | None = None, csr_path: str | Path | None = None,
                            days: int = 1095, key_bits: int = 3072,
                            overwrite: bool = False) -> KeyFiles:
    """Make a key and a self-signed document-signing certificate, written as PKCS#12 + PEM.

    The certificate is self-signed so a hospital can start at once; the CSR is
    there so its CA can issue the certificate a wider audience trusts.
    """
    out_p12 = Path(out_p12)
    pw = _as_bytes(passphrase)
    if not org.strip():
        raise KeyError_("--org must name the organisation that signs reports")
    if len(pw) < MIN_PASSPHRASE_LEN:
        raise KeyError_(f"the passphrase must be at least {MIN_PASSPHRASE_LEN} characters")
    if days < 1:
        raise KeyError_(f"--days must be at least 1, got {days}")
    cert_pem = out_p12.with_suffix(".cert.pem")
    targets = [out_p12, cert_pem] + ([Path(csr_path)] if csr_path else [])
    if not overwrite:
        for t in targets:
            if t.exists():
                raise KeyError_(f"{t} already exists; choose another --out or remove it first")
    cn = common_name or f"{org.strip()} SafeVet report signing"
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org.strip()),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Clinical AI governance"),
    ])
    now = datetime.now(timezone.utc)
    key_usage = x509.KeyUsage(digital_signature=True, content_commitment=True,
                              key_encipherment=False, data_encipherment=False,
                              key_agreement=False, key_cert_sign=False, crl_sign=False,
                              encipher_only=False, decipher_only=False)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING_EKU]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    p12_bytes = pkcs12.serialize_key_and_certificates(
        name=cn.encode("utf-8"), key=key, cert=cert, cas=None,
        encryption_algorithm=serialization.BestAvailableEncryption(pw))
    out_p12.parent.mkdir(parents=True, exist_ok=True)
    _write_private(out_p12, p12_bytes)
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    csr_out = None
    if csr_path:
        csr = (x509.CertificateSigningRequestBuilder().subject_name(subject)
               .add_extension(key_usage, critical=True)
               .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING_EKU]), critical=False)
               .sign(key, hashes.SHA256()))
        csr_out = Path(csr_path)
        csr_out.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return KeyFiles(p12=out_p12, cert_pem=cert_pem, csr=csr_out)


def _write_private(path: Path, data: bytes) -> None:
    """Owner-only permissions from the first byte: the key is never world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def read_p12_bytes(p12_path: str | Path) -> bytes:
    path = Path(p12_path)
    if not path.is_file():
        raise KeyError_(f"{path}: signing key file not found")
    return path.read_bytes()


def load_signing_identity(p12_path: str | Path, passphrase: str | bytes) -> SigningIdentity:
    """Unlock a PKCS#12; a wrong passphrase is a clear error, never a traceback."""
    data = read_p12_bytes(p12_path)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, _as_bytes(passphrase))
    except ValueError as exc:
        raise WrongPassphraseError(
            f"{p12_path}: cannot open the signing key: wrong passphrase, or not a PKCS#12 "
            f"file") from exc
    if key is None or cert is None:
        raise KeyError_(f"{p12_path}: the PKCS#12 file must hold a private key and its "
                        f"certificate")
    now = datetime.now(timezone.utc)
    if cert.not_valid_after_utc < now:
        raise KeyError_(f"{p12_path}: the signing certificate expired on "
                        f"{cert.not_valid_after_utc:%Y-%m-%d}; make or import a new key")
    return SigningIdentity(key=key, cert=cert, extra_certs=tuple(extra or ()))


def import_key(keys_dir: str | Path, p12_path: str | Path, passphrase: str | bytes,
               overwrite: bool = False) -> Path:
    """Copy a PKCS#12 into the workspace key folder after proving the passphrase opens it."""
    identity = load_signing_identity(p12_path, passphrase)
    keys_dir = Path(keys_dir)
    keys_dir.mkdir(parents=True, exist_ok=True)
    dest = keys_dir / Path(p12_path).name
    if dest.exists() and not overwrite:
        raise KeyError_(f"{dest} already exists in the workspace; remove it first")
    _write_private(dest, read_p12_bytes(p12_path))
    (dest.with_suffix(".cert.pem")).write_bytes(
        identity.cert.public_bytes(serialization.Encoding.PEM))
    return dest


def is_demo_subject(common_name: str | None, organisation: str | None) -> bool:
    """Whether a certificate subject is the demo key's: such a signature is never clinical."""
    return organisation == DEMO_ORG or common_name == DEMO_COMMON_NAME


def default_key(keys_dir: str | Path) -> Path:
    """The workspace's only key, so `report` needs no --key when there is just one."""
    found = sorted(Path(keys_dir).glob("*.p12"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise KeyError_(f"no signing key in {keys_dir}: run `safevet keys init` or "
                        f"`safevet keys import`, or pass --key")
    raise KeyError_(f"{len(found)} keys in {keys_dir} ({', '.join(p.name for p in found)}): "
                    f"pass --key")
