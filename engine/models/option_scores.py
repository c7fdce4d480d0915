"""An MCQ answer distribution, and how one is read off next-token logits.

Kept apart from any backend so every backend turns logits into the figures a
report shows in exactly the same way (float64 log-softmax, then renormalised
over the offered letters).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class OptionScores:
    """One MCQ answer distribution from one forward pass.

    `probs` is normalised over the offered letters (what confidence means in a
    report); `logprobs` is the raw log-softmax over the whole vocabulary, so a
    reader can see how much mass the letters got at all.
    """

    probs: dict[str, float]
    logprobs: dict[str, float]
    prompt_tokens: int
    latency_ms: float

    @property
    def choice(self) -> str:
        return max(self.probs, key=self.probs.__getitem__)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """In float64: letters can get tiny mass, and float32 would round their logprobs."""
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def option_scores(logp: np.ndarray, letters: Sequence[str], letter_ids: Sequence[int],
                  prompt_tokens: int, latency_ms: float) -> OptionScores:
    """The offered letters' scores from one row of vocabulary log-probabilities."""
    lp = {l: float(logp[tid]) for l, tid in zip(letters, letter_ids)}
    vals = np.array(list(lp.values()))
    p = np.exp(vals - vals.max())
    p /= p.sum()
    return OptionScores(probs=dict(zip(lp, map(float, p))), logprobs=lp,
                        prompt_tokens=prompt_tokens, latency_ms=latency_ms)
