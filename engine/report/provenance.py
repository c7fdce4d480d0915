"""What a candidate's weights really are, in words a committee cannot misread.

A model imported from a 4-bit GGUF and exported at fp32 carries fp32 tensors,
but only 4-bit information: the import dequantised it. "fp32" alone suggests
full-precision weights, so the report says where the precision came from.
The GGUF's quantisation type is taken from the manifest when it records one
and otherwise from the file name (GGUF files are conventionally named after
it, e.g. "…Q4_1.gguf"); when neither says, the report says it is unknown
rather than guess.
"""
from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any, Mapping

# GGUF file types as llama.cpp names them: Q4_0, Q4_1, Q5_K_M, Q8_0, IQ2_XXS, TQ1_0,
# and the unquantised F16, BF16, F32.
_GGUF_TYPE = re.compile(r"(?<![A-Za-z0-9])(I?Q[1-8](?:_[0-9A-Z]+){1,2}|TQ[12]_0|BF16|F16|F32)"
                        r"(?![A-Za-z0-9])", re.IGNORECASE)
_UNQUANTISED = {"F32", "F16", "BF16"}


def _path_name(source: str) -> str:
    """The file name of a source path recorded on any OS (the manifest may come from Windows)."""
    return PurePath(source.replace("\\", "/")).name


def is_gguf(manifest: Mapping[str, Any]) -> bool:
    """Imported from a GGUF: by the manifest's own word, or by the recorded file's suffix."""
    return manifest.get("source_kind") == "gguf" or \
        str(manifest.get("source") or "").lower().endswith(".gguf")


def gguf_type(manifest: Mapping[str, Any]) -> tuple[str | None, str]:
    """(quantisation type, where it was read) of the source GGUF, or (None, '') if unknown."""
    recorded = manifest.get("source_quantization")   # not written by today's importer
    if isinstance(recorded, str) and recorded:
        return recorded.upper(), "manifest"
    stem = _path_name(str(manifest.get("source") or "")).rsplit(".", 1)[0]
    found = _GGUF_TYPE.findall(stem)
    return (found[-1].upper(), "file name") if found else (None, "")


def _article(word: str) -> str:
    """'a Q4_1', 'an IQ2_XXS', 'an F16': by how the first letter is spoken."""
    return "an" if word[:1].upper() in "AEFHILMNORSX" else "a"


def _gguf_origin(manifest: Mapping[str, Any]) -> str:
    """'dequantised from a Q4_1 GGUF (type from the file name)', or the honest unknown."""
    qtype, where = gguf_type(manifest)
    source = "type read from the file name" if where == "file name" else "type as recorded"
    if qtype is None:
        return "converted from a GGUF whose quantisation type is not recorded"
    if qtype in _UNQUANTISED:
        return f"converted from {_article(qtype)} {qtype} (unquantised) GGUF ({source})"
    bits = re.match(r"I?T?Q(\d)", qtype)
    width = f"{bits.group(1)}-bit; " if bits else ""
    return f"dequantised from {_article(qtype)} {qtype} GGUF ({width}{source})"


def precision_text(manifest: Mapping[str, Any], settings: str = "") -> str:
    """The cover's Precision cell: the stored precision, then where it came from.

    `settings` is the quantiser's recorded recipe (bits, block size, ...), made readable.
    """
    precision = str(manifest.get("precision") or "not recorded")
    made = "cast" if precision == "fp16" else "quantised"
    text = precision + (f"; {'conversion' if made == 'cast' else 'quantisation'} {settings}"
                        if settings else "")
    if not is_gguf(manifest):
        return text
    origin = _gguf_origin(manifest)
    if manifest.get("source_kind") == "derived" or manifest.get("derived_from"):
        base = manifest.get("derived_from") or "an fp32 model"
        return f"{text}; {made} from {base}, whose fp32 weights were {origin}"
    if precision == "fp32":
        return f"fp32, {origin}" + (f"; quantisation {settings}" if settings else "")
    return f"{text}; its weights were first {origin}"
