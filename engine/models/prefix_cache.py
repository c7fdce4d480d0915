"""The KV cache of a token prefix that prompts share, computed once and reused.

A vetting run scores many prompts that begin alike: every item starts with the
same system prompt, and an item's option permutations share evidence and
question too. Attention is causal, so the cached keys/values of the first c
tokens depend on those tokens only: cutting a cache at c, or extending it with
the tokens that follow, is exact, and reuse changes no result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

# A shared prefix shorter than this is not worth a separate forward pass.
MIN_SHARED_PREFIX = 8


@dataclass
class CachedPrefix:
    tokens: tuple[int, ...]
    past: list[np.ndarray]            # batch 1


class Forward(Protocol):
    """One forward pass: (input_ids, attention_mask, position_ids, past) -> (logits, present)."""

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray,
                 position_ids: np.ndarray, past: list[np.ndarray] | None
                 ) -> tuple[np.ndarray, list[np.ndarray]]: ...


def common_head(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common leading run of two token sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def shared_prefix(encoded: list[list[int]], cached: CachedPrefix | None) -> tuple[int, ...]:
    """Tokens every prompt starts with, leaving each at least one token to run.

    Within one call: the prompts' common prefix. A lone prompt (or prompts
    sharing little) reuses what it shares with the prefix an earlier call
    computed (e.g. the system prompt).
    """
    limit = min(len(e) for e in encoded) - 1
    first = encoded[0]
    n = 0
    if len(encoded) > 1:
        while n < limit and all(e[n] == first[n] for e in encoded[1:]):
            n += 1
    if n >= MIN_SHARED_PREFIX:
        return tuple(first[:n])
    if cached is not None:
        c = min([limit] + [common_head(cached.tokens, e) for e in encoded])
        if c >= MIN_SHARED_PREFIX:
            return tuple(first[:c])
    return ()


# A subset of a call's prompts earns a prefix pass of its own when it shares this many
# tokens more than the whole call does: below that, the extra pass and the smaller batches
# cost more than the tokens saved.
SUBSET_PREFIX_GAIN = 64


def prefix_groups(encoded: list[list[int]], base: int,
                  gain: int = SUBSET_PREFIX_GAIN) -> tuple[list[list[int]], list[int]]:
    """Prompts of one call that share much more than the call's common prefix (`base`
    tokens), grouped: (groups, the rest). Each group's prompts share at least base + gain
    leading tokens, so its prefix is computed once for them all.

    Why: one item's standard-RAG and max-context prompts share all of standard RAG's
    evidence (max-context packs the same ranking further), ~440 of ~680 tokens in the demo,
    while the call's prompts as a whole share only the system prompt. Sorted token order
    puts the prompts with the longest shared heads side by side (the order of a trie), and
    the grouping depends on the call's prompts alone, so it is reproducible.
    """
    order = sorted(range(len(encoded)), key=lambda i: encoded[i])
    runs: list[list[int]] = []
    shared = 0
    for i in order:
        if runs:
            head = min(shared, common_head(encoded[runs[-1][-1]], encoded[i]))
            if head >= base + gain:
                runs[-1].append(i)
                shared = head
                continue
        runs.append([i])
        shared = len(encoded[i])
    groups = [r for r in runs if len(r) > 1]
    return groups, sorted(i for r in runs if len(r) == 1 for i in r)


def cache_prefix(cached: CachedPrefix | None, prefix: tuple[int, ...],
                 forward: Forward) -> CachedPrefix:
    """The KV cache (batch 1) of `prefix`, running only what `cached` does not hold.

    Whatever head the new prefix shares with the cached one is not run again:
    system prompt then system prompt + evidence, or one item's question then
    the next item's (same system prompt).
    """
    if cached is not None and cached.tokens == prefix:
        return cached
    n = len(prefix)
    start, past = 0, None
    if cached is not None:
        common = common_head(cached.tokens, prefix)
        if common == n:
            return CachedPrefix(prefix, [t[:, :, :n, :] for t in cached.past])
        if common >= MIN_SHARED_PREFIX:
            start = common
            past = [t[:, :, :common, :] for t in cached.past]
    ids = np.asarray([prefix[start:]], dtype=np.int64)
    _, past = forward(ids, np.ones((1, n), np.int64), np.arange(start, n)[None], past)
    return CachedPrefix(prefix, past)
