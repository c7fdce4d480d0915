"""McNemar's exact test: did two candidates get *different* items right, beyond chance?

On paired items only the discordant pairs carry information: b items the first
candidate answered correctly and the second did not, c the other way round.
Under "no difference" each discordant pair goes either way with probability 1/2,
so b ~ Binomial(b + c, 1/2). The two-sided exact p-value doubles the smaller
tail (capped at 1): p = min(1, 2 · Σ_{k ≤ min(b, c)} C(b + c, k) / 2^(b + c)).
Exact rather than the χ² approximation because a suite's discordant counts are
small: for b = 2, c = 8 the exact p is 0.1094, the χ² approximation gives 0.058
without continuity correction and 0.114 with it.
"""
from __future__ import annotations

from math import comb


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts (1.0 when b + c = 0)."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(b, c) + 1))
    return min(1.0, 2.0 * tail / 2 ** n)
