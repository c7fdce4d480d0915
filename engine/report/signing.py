"""PAdES B-B signature with pyhanko: the proof a committee checks that nothing changed.

No timestamp server and no OCSP/CRL (the workstation is air-gapped): the
signing time is the signer's own claim, which the report says. The manifest
is embedded in the same incremental update the signature covers, so the
signature protects the figures as well as the pages.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.stamp import TextStampStyle

from engine.report.keys import SigningIdentity, WrongPassphraseError, read_p12_bytes

SIGNATURE_FIELD = "SafeVetSignature"
MANIFEST_NAME = "safevet-manifest.json"
# Where the visible signature sits on the last page (points, A4); the layout
# keeps this rectangle empty on its signature page.
SIGNATURE_BOX = (51, 520, 420, 610)


@dataclass(frozen=True)
class SignRequest:
    """Who signs and why; shown in the visible block and in the signature dictionary."""

    identity: SigningIdentity
    p12_path: Path
    passphrase: str | bytes
    reason: str = "SafeVet clinical safety audit report"
    location: str = ""


def sign_pdf(pdf_bytes: bytes, request: SignRequest, manifest_json: bytes,
             out_path: str | Path) -> Path:
    """Embed the manifest and sign the whole file (visible block on the last page)."""
    pw = request.passphrase if isinstance(request.passphrase, bytes) else \
        request.passphrase.encode("utf-8")
    try:
        signer = signers.SimpleSigner.load_pkcs12_data(
            read_p12_bytes(request.p12_path), other_certs=[], passphrase=pw)
    except ValueError as exc:
        raise WrongPassphraseError(f"{request.p12_path}: cannot open the signing key: wrong "
                                   f"passphrase, or not a PKCS#12 file") from exc
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes))
    ef = embed.EmbeddedFileObject.from_file_data(
        writer, data=manifest_json, mime_type="application/json",
        params=embed.EmbeddedFileParams(embed_size=True, embed_checksum=True))
    embed.embed_file(writer, embed.FileSpec(
        file_spec_string=MANIFEST_NAME, file_name=MANIFEST_NAME, embedded_data=ef,
        description="SafeVet machine-readable manifest: every figure and hash in this report",
        af_relationship=generic.pdf_name("/Data")))
    fields.append_signature_field(writer, fields.SigFieldSpec(
        SIGNATURE_FIELD, on_page=-1, box=SIGNATURE_BOX))
    org = request.identity.organization or "not stated"
    style = TextStampStyle(
        stamp_text=("Digitally signed by: %(signer)s\nOrganisation: %(org)s\n"
                    "Date: %(ts)s\nPAdES B-B, SHA-256, no timestamp authority"),
        border_width=1)
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD, md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES, reason=request.reason,
        location=request.location or None, name=request.identity.subject_cn or None)
    pdf_signer = signers.PdfSigner(meta, signer=signer, stamp_style=style)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".part")
    with open(tmp, "wb") as fh:
        pdf_signer.sign_pdf(writer, output=fh, appearance_text_params={"org": org})
    tmp.replace(out_path)
    return out_path
