"""Tokenizer access for the runtime (the `tokenizers` library only, never transformers).

Prompts are fully rendered chat text that already carries the template's own
special tokens, so encoding never adds a BOS/EOS of its own: adding one would
double a Llama `<s>` or, for the SmolLM GGUF tokenizer, prepend a stray
`<|im_start|>`.
"""
from __future__ import annotations

from pathlib import Path

from engine.errors import SafeVetError

# How tokenizers mark a leading space inside a token string: GPT-2 byte level, SentencePiece.
SPACE_MARKERS = ("Ġ", "▁", " ")


class LetterTokenError(SafeVetError):
    """An option letter has no single token in this model's vocabulary."""


def load_tokenizer(path: Path):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def encode(tok, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False).ids


def resolve_letter_token(tok, letter: str) -> int:
    """The token a model emits for answer `letter` right after "Answer:".

    After a colon the answer is written " A": byte-level BPE vocabularies hold
    that as one token ("ĠA"); SentencePiece-style ones write it "▁A", which is
    what encoding the bare letter gives them. Bare "A" (no space) is the last
    resort: on SmolLM it gets ~0.1% of the mass, so preferring it would make
    every answer look unsure.
    """
    letter = letter.strip()
    if not letter:
        raise LetterTokenError("an empty option letter cannot be scored")
    candidates: list[int] = []
    for text in (" " + letter, letter):
        ids = tok.encode(text, add_special_tokens=False).ids
        if len(ids) == 1 and tok.decode(ids, skip_special_tokens=False).strip() == letter:
            candidates.append(ids[0])
    for marker in SPACE_MARKERS:
        tid = tok.token_to_id(marker + letter)
        if tid is not None:
            candidates.append(tid)
    for tid in candidates:  # prefer a space-prefixed token
        piece = tok.id_to_token(tid) or ""
        if piece.startswith(SPACE_MARKERS):
            return tid
    if candidates:
        return candidates[0]
    tid = tok.token_to_id(letter)
    if tid is not None:
        return tid
    raise LetterTokenError(f"option letter {letter!r} is not a single token of this model's "
                           f"tokenizer; use single-character option letters")
