"""Which certificate a report is checked against: the workspace's trust anchor.

A signature proves only that the holder of some key signed the file; whether
that key speaks for the institution is the verifier's decision. SafeVet used to
guess it (the selected signing key, else the only certificate it could find),
so a genuine demo report read "NOT valid" once a hospital key was imported and
a demo report got a green tick against the demo certificate nobody chose. The
anchor is now explicit: chosen once per workspace and remembered in
`trust.json` in the workspace folder, with the certificate's fingerprint, so a
file later replaced at the same path (`make demo` remakes its key) is refused
rather than trusted silently. Until someone chooses, a default is offered only
when it is unambiguous, and it is always shown as "not chosen by you".
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from engine.errors import SafeVetError
from engine.report.keys import DEMO_KEYS_SUBDIR, is_demo_subject
from engine.workspace import Workspace

TRUST_SETTING = "trust.json"
FORMAT_VERSION = 1
MAX_SETTING_BYTES = 64 * 1024
CERT_SUFFIX = ".cert.pem"


class TrustSettingError(SafeVetError):
    """The workspace's trust setting cannot be read or the chosen file is not a certificate."""


@dataclass(frozen=True)
class CertIdentity:
    """Who a certificate names, and its fingerprint: two keys may carry the same name."""

    common_name: str | None
    organisation: str | None
    sha256: str                      # hex SHA-256 of the DER certificate

    @property
    def is_demo(self) -> bool:
        return is_demo_subject(self.common_name, self.organisation)

    @property
    def fingerprint(self) -> str:
        """The first 8 bytes, grouped for reading aloud when two names match."""
        head = self.sha256[:16].upper()
        return " ".join(head[i:i + 4] for i in range(0, len(head), 4))

    def describe(self) -> str:
        """One line naming the certificate; a demo one always says so."""
        name = self.common_name or "unnamed certificate"
        org = f" ({self.organisation})" if self.organisation else ""
        demo = " — DEMO key, not for clinical use" if self.is_demo else ""
        return f"{name}{org}, SHA-256 {self.fingerprint}…{demo}"


def cert_identity(cert: Any) -> CertIdentity:
    """The identity of an asn1crypto certificate (what pyhanko and load_trust_cert hold)."""
    subject = cert.subject.native
    return CertIdentity(common_name=subject.get("common_name"),
                        organisation=subject.get("organization_name"),
                        sha256=cert.sha256.hex())


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


class TrustSource(str, Enum):
    """Why this certificate is the anchor: only CHOSEN and GIVEN are a person's decision."""

    CHOSEN = "chosen"                    # chosen in this workspace and remembered
    GIVEN = "given"                      # named for this one check (`safevet verify --trust`)
    ONLY_INSTITUTION = "only_institution"  # not chosen: the workspace's one institution cert
    ONLY_DEMO = "only_demo"              # not chosen: no institution cert, only the demo one


SOURCE_WORDS = {
    TrustSource.CHOSEN: "chosen by you for this workspace",
    TrustSource.GIVEN: "given for this check",
    TrustSource.ONLY_INSTITUTION: "not chosen by you: the workspace's only institution "
                                  "certificate",
    TrustSource.ONLY_DEMO: "not chosen by you: the workspace has only the demo certificate",
}


@dataclass(frozen=True)
class TrustAnchor:
    """The certificate a check will trust, where it came from, and whether it can be used."""

    path: Path
    source: TrustSource
    identity: CertIdentity | None = None
    problem: str | None = None           # why it cannot be used; None when usable

    @property
    def usable(self) -> bool:
        return self.problem is None and self.identity is not None

    def describe(self) -> str:
        if not self.usable:
            return f"{self.path}: {self.problem}"
        assert self.identity is not None
        return f"{self.identity.describe()} [{self.path.name}; {SOURCE_WORDS[self.source]}]"


def trust_setting_path(ws: Workspace) -> Path:
    """The one place the workspace remembers its trust anchor."""
    return ws.home / TRUST_SETTING


def anchor_for(path: str | Path, source: TrustSource = TrustSource.GIVEN,
               expected_sha256: str | None = None) -> TrustAnchor:
    """An anchor for a certificate file, with the reason it cannot be used if it cannot."""
    p = Path(path)
    try:
        identity = cert_identity(load_trust_cert(p))
    except SafeVetError as exc:
        return TrustAnchor(path=p, source=source, problem=str(exc).removeprefix(f"{p}: "))
    if expected_sha256 and identity.sha256 != expected_sha256.lower():
        return TrustAnchor(path=p, source=source, identity=identity,
                           problem="this file holds a different certificate from the one "
                                   "chosen (it was replaced since): choose it again only if "
                                   "you trust the new one")
    return TrustAnchor(path=p, source=source, identity=identity)


def choose_trust_cert(ws: Workspace, path: str | Path) -> TrustAnchor:
    """Remember `path` as the workspace's trust anchor; refuses a file that is no certificate."""
    p = Path(path).expanduser().resolve()
    anchor = anchor_for(p, TrustSource.CHOSEN)
    if not anchor.usable:
        raise TrustSettingError(f"{p}: {anchor.problem}")
    assert anchor.identity is not None
    setting = {"format_version": FORMAT_VERSION, "certificate": str(p),
               "sha256": anchor.identity.sha256, "common_name": anchor.identity.common_name,
               "organisation": anchor.identity.organisation,
               "chosen_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _write_atomically(trust_setting_path(ws), json.dumps(setting, indent=2) + "\n")
    return anchor


def chosen_trust_anchor(ws: Workspace) -> TrustAnchor | None:
    """The remembered choice (possibly unusable, saying why), or None when none was made."""
    from engine.inputfiles import read_json

    setting = trust_setting_path(ws)
    if not setting.exists():
        return None
    try:
        data = read_json(setting, what="trust setting", max_bytes=MAX_SETTING_BYTES)
        cert, sha = data["certificate"], data["sha256"]
        if not isinstance(cert, str) or not isinstance(sha, str):
            raise TypeError("certificate and sha256 must be text")
    except (SafeVetError, KeyError, TypeError) as exc:
        return TrustAnchor(path=setting, source=TrustSource.CHOSEN,
                           problem=f"the trust setting is unreadable ({exc}); choose the "
                                   f"certificate again")
    return anchor_for(cert, TrustSource.CHOSEN, expected_sha256=sha)


def default_trust_anchor(ws: Workspace) -> TrustAnchor | None:
    """An offer only when there is no doubt which certificate is meant, else None (ask).

    One institution certificate in keys/: that one. None there and one demo
    certificate in keys/demo/: that one (so `make demo` verifies in one click,
    labelled DEMO). Anything else is a choice SafeVet must not make.
    """
    institution = sorted(ws.keys_dir.glob(f"*{CERT_SUFFIX}"))
    if len(institution) == 1:
        return anchor_for(institution[0], TrustSource.ONLY_INSTITUTION)
    demo = sorted((ws.keys_dir / DEMO_KEYS_SUBDIR).glob(f"*{CERT_SUFFIX}"))
    if not institution and len(demo) == 1:
        return anchor_for(demo[0], TrustSource.ONLY_DEMO)
    return None


def resolve_trust_anchor(ws: Workspace) -> TrustAnchor | None:
    """The chosen anchor if one was chosen (even when unusable: never fall back past a
    choice), else the unambiguous default, else None."""
    return chosen_trust_anchor(ws) or default_trust_anchor(ws)


def _write_atomically(path: Path, text: str) -> None:
    """A half-written setting would read as no choice at all: replace the file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
