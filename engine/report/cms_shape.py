"""The CMS SignedData shape SafeVet writes, required exactly.

The signature covers the PDF bytes and the CMS signed attributes, nothing else
in the CMS: the algorithm lists, versions, CRLs, unsigned attributes and their
encodings can all be edited without breaking it, and pyhanko accepts many such
edits that other verifiers (pdfsig) reject. A report that one verifier passes
and another fails is not evidence a committee can rely on, so we accept only
the structure SafeVet itself produces (pyhanko, PAdES B-B, SHA-256), pinned
here from a freshly signed report.
"""
from __future__ import annotations

from collections.abc import Callable

from asn1crypto import algos, cms, core, parser

SIGNED_DATA_VERSION = "v1"
SIGNER_INFO_VERSION = "v1"
ENCAP_CONTENT_TYPE = "data"
DIGEST_ALGORITHM = "sha256"
# PKCS#1 v1.5 with SHA-256 for the RSA keys `safevet keys init` makes; ECDSA
# with SHA-256 is what pyhanko writes for an imported EC key.
SIGNATURE_ALGORITHMS = ("sha256_rsa", "sha256_ecdsa")
# Far deeper than the CMS and certificates SafeVet writes; bounds hostile nesting.
MAX_DER_DEPTH = 32

# Compared as DER so that the parameters' encoding (pyhanko writes an explicit
# NULL for sha256 and sha256_rsa, nothing for ECDSA) is pinned, not just the OID.
_DIGEST_DER = algos.DigestAlgorithm({"algorithm": DIGEST_ALGORITHM}).dump()
_SIGNATURE_DERS = frozenset(algos.SignedDigestAlgorithm({"algorithm": name}).dump()
                            for name in SIGNATURE_ALGORITHMS)

_Check = Callable[[cms.SignedData], str | None]


def cms_shape_problems(der: bytes) -> list[str]:
    """One line per way the CMS differs from SafeVet's; never raises on hostile bytes."""
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            return [f"signature CMS is {info['content_type'].native!r}, not signed_data"]
        signed_data = info["content"]
    except Exception as exc:  # asn1crypto raises several types for garbage
        return [f"signature CMS could not be parsed: {_one_line(exc)}"]
    problems = [p for p in (_run(check, signed_data) for check in _CHECKS) if p]
    non_der = _non_der_reason(der)
    if non_der:
        problems.append(f"signature CMS is not in canonical DER: {non_der}")
    return problems


def _run(check: _Check, signed_data: cms.SignedData) -> str | None:
    """A field that only fails to parse when read is still a problem line, not a crash."""
    try:
        return check(signed_data)
    except Exception as exc:
        return f"signature CMS {check.__name__.strip('_')} unreadable: {_one_line(exc)}"


def _non_der_reason(der: bytes) -> str | None:
    """Why the bytes are not the DER re-encoding of what they parse to, or None.

    asn1crypto and pyhanko parse BER leniently (long-form lengths, indefinite
    lengths, padded integers), so such bytes are still "valid" to them. We
    re-encode every element's header with parser.emit and compare byte for byte,
    and check the few primitive types whose DER form is fixed. (asn1crypto's own
    dump(force=True) re-encodes OIDs through the name tables pyhanko extends at
    import, which is both slow and import-order dependent.)
    """
    try:
        return _first_non_der(der, base=0, depth=0)
    except Exception as exc:  # truncated or garbled TLVs
        return f"unreadable element: {_one_line(exc)}"


def _first_non_der(data: bytes, base: int, depth: int) -> str | None:
    if depth > MAX_DER_DEPTH:
        return f"nested more than {MAX_DER_DEPTH} levels deep at byte {base}"
    offset = 0
    while offset < len(data):
        size = parser.peek(data[offset:])
        element = data[offset:offset + size]
        class_, method, tag, header, contents, _ = parser.parse(element, strict=True)
        if parser.emit(class_, method, tag, contents) != element:
            return f"tag or length at byte {base + offset} is not in DER form"
        inner = base + offset + len(header)
        reason = (_first_non_der(contents, inner, depth + 1) if method == 1
                  else _non_der_primitive(class_, tag, contents))
        if reason:
            return reason if method == 1 else f"{reason} at byte {inner}"
        offset += size
    return None


def _non_der_primitive(class_: int, tag: int, contents: bytes) -> str | None:
    """DER fixes one encoding for these universal types; BER allows several."""
    if class_ != 0:
        return None
    if tag == 1 and contents not in (b"\x00", b"\xff"):
        return "BOOLEAN not 00 or FF"
    if tag == 2 and (not contents or len(contents) > 1 and (
            (contents[0] == 0x00 and contents[1] < 0x80)
            or (contents[0] == 0xFF and contents[1] >= 0x80))):
        return "INTEGER not in minimal form"
    if tag == 5 and contents:
        return "NULL with contents"
    if tag == 6 and (not contents or contents[-1] & 0x80 or any(
            b == 0x80 and (i == 0 or not contents[i - 1] & 0x80)
            for i, b in enumerate(contents))):
        return "OBJECT IDENTIFIER not in minimal form"
    return None


def _one_line(exc: Exception) -> str:
    """asn1crypto's messages span lines ("while parsing ..."); a problem is one line."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _describe(algorithm: core.Sequence) -> str:
    """OID plus the raw DER: a flipped parameter byte leaves the OID unchanged."""
    return f"{algorithm['algorithm'].dotted}, DER {algorithm.dump().hex()}"


def _absent(value: core.Asn1Value) -> bool:
    return isinstance(value, core.Void)


def _signed_data_version(sd: cms.SignedData) -> str | None:
    if sd["version"].native != SIGNED_DATA_VERSION:
        return (f"signature CMS SignedData version is {sd['version'].native!r}, SafeVet "
                f"writes {SIGNED_DATA_VERSION!r}")
    return None


def _digest_algorithms(sd: cms.SignedData) -> str | None:
    """The unsigned algorithm list must be the one hash the signer actually used."""
    algorithms = list(sd["digest_algorithms"])
    signer_infos = list(sd["signer_infos"])
    if len(algorithms) != 1:
        return (f"signature CMS digest algorithms hold {len(algorithms)} entries, SafeVet "
                f"writes exactly one ({DIGEST_ALGORITHM})")
    if algorithms[0].dump() != _DIGEST_DER:
        return (f"signature CMS digest algorithms are not exactly {DIGEST_ALGORITHM} as "
                f"SafeVet writes it (found {_describe(algorithms[0])})")
    if len(signer_infos) == 1 and signer_infos[0]["digest_algorithm"].dump() != _DIGEST_DER:
        return ("signature CMS signer's digest algorithm differs from the digest "
                f"algorithms list (SafeVet writes {DIGEST_ALGORITHM} in both)")
    return None


def _encap_content_info(sd: cms.SignedData) -> str | None:
    """PAdES signs the PDF bytes detached: type data, no embedded content."""
    eci = sd["encap_content_info"]
    if eci["content_type"].native != ENCAP_CONTENT_TYPE or not _absent(eci["content"]):
        return (f"signature CMS encapsulated content is not detached "
                f"{ENCAP_CONTENT_TYPE!r} as SafeVet writes it")
    return None


def _crls(sd: cms.SignedData) -> str | None:
    if not _absent(sd["crls"]):
        return "signature CMS holds CRLs; SafeVet writes none (no revocation data offline)"
    return None


def _signer_info(sd: cms.SignedData) -> str | None:
    """Exactly one signer, with the version, algorithm and (no) unsigned attributes we write."""
    signer_infos = list(sd["signer_infos"])
    if len(signer_infos) != 1:
        return (f"signature CMS holds {len(signer_infos)} signer infos, SafeVet writes "
                f"exactly one")
    si = signer_infos[0]
    if si["version"].native != SIGNER_INFO_VERSION:
        return (f"signature CMS signer info version is {si['version'].native!r}, SafeVet "
                f"writes {SIGNER_INFO_VERSION!r}")
    if si["signature_algorithm"].dump() not in _SIGNATURE_DERS:
        return (f"signature CMS signature algorithm {_describe(si['signature_algorithm'])} "
                f"is not one SafeVet writes ({', '.join(SIGNATURE_ALGORITHMS)} with "
                f"pyhanko's parameters)")
    if not _absent(si["unsigned_attrs"]):
        return "signature CMS holds unsigned attributes; SafeVet writes none"
    return None


_CHECKS: tuple[_Check, ...] = (_signed_data_version, _digest_algorithms,
                               _encap_content_info, _crls, _signer_info)
