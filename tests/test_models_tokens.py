"""Letter-token resolution on tokenizers that split letters differently."""
from __future__ import annotations

import pytest

from engine.models.tokens import LetterTokenError, encode, resolve_letter_token


def _word_level(vocab: list[str]):
    from tokenizers import Tokenizer, models, pre_tokenizers
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok


def test_bare_letter_when_no_space_prefixed_token_exists():
    tok = _word_level(["[UNK]", "Answer:", "A", "B"])
    assert resolve_letter_token(tok, "A") == 2
    assert resolve_letter_token(tok, " B ") == 3
    assert encode(tok, "Answer: A") == [1, 2]


def test_letter_missing_from_vocabulary():
    tok = _word_level(["[UNK]", "Answer:", "A"])
    with pytest.raises(LetterTokenError, match="'C'"):
        resolve_letter_token(tok, "C")
    with pytest.raises(LetterTokenError, match="empty"):
        resolve_letter_token(tok, " ")


def test_space_prefixed_token_preferred(tiny_model, tiny_llama_model):
    for model, marker in ((tiny_model, "Ġ"), (tiny_llama_model, "▁")):
        for letter in "ABCDE":
            tid = model.letter_token_id(letter)
            assert model.tokenizer.id_to_token(tid) == marker + letter
            bare = model.tokenizer.token_to_id(letter)
            assert bare is None or bare != tid
