"""Which call of an item a work unit is: the plain call, a permutation, or a sample.

The store keeps the variant as a short string in its unique key ("", "perm:N",
"sample:N"), which resume and every stored run depend on, so that spelling is
fixed here and nowhere else; code works with the typed `Variant`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

VariantKind = Literal["primary", "permutation", "sample"]
_PREFIX: dict[str, str] = {"permutation": "perm", "sample": "sample"}
_KIND = {prefix: kind for kind, prefix in _PREFIX.items()}


@dataclass(frozen=True)
class Variant:
    """`index` is the cyclic shift of a permutation (1..n-1) or the seed of a sample."""

    kind: VariantKind = "primary"
    index: int = 0

    @classmethod
    def permutation(cls, shift: int) -> "Variant":
        return cls("permutation", shift)

    @classmethod
    def sample(cls, seed: int) -> "Variant":
        return cls("sample", seed)

    @classmethod
    def parse(cls, stored: str) -> "Variant":
        """The Variant a stored string names; ValueError for a string SafeVet never wrote."""
        if stored == "":
            return PRIMARY
        prefix, sep, number = stored.partition(":")
        if not sep or prefix not in _KIND or not number.isdigit():
            raise ValueError(f"unknown call variant {stored!r}")
        return cls(_KIND[prefix], int(number))  # type: ignore[arg-type]

    @property
    def is_primary(self) -> bool:
        return self.kind == "primary"

    def __bool__(self) -> bool:
        """True for every variant but the plain call (so `if unit.variant:` reads naturally)."""
        return not self.is_primary

    def __str__(self) -> str:
        return "" if self.is_primary else f"{_PREFIX[self.kind]}:{self.index}"


PRIMARY = Variant()
