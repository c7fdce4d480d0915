"""How much left padding a quantised model's batches may carry and stay exact.

Padding a prompt changes no value in principle (masked positions weigh exactly 0),
but onnxruntime's attention kernel sums over positions in SIMD lanes, and pads
shift which lane each real position falls in, so float sums round differently
in the last bit. fp32 shrugs that off (~1e-5 in a logit). The int8/int4 kernels
(MatMulNBits, accuracy level 4) quantise activations to integers at every layer,
where a last-bit change can flip a rounding and move logits by ~0.5: measured on
SmolLM2 int8, 36 of 80 greedy demo answers changed text when batched with free
padding.

But when the pads come first and are a whole number of lanes, every real
position keeps its lane and the sums are bitwise those of the prompt alone
(measured on SmolLM2 int8, AVX2: 4, 8, ... 128 leading pads give identical
logits in prefill and decode; 1-3, 5-7, ... do not; pads placed after a shared
prefix are exact only for some prefix lengths, so a quantised batch of mixed
lengths is padded from the start, without prefix reuse). Computing a prefix's
KV cache first and the rest after it is exact (same sums in the same lanes).
The lane width depends on the CPU and provider, so it is not assumed: at load,
`probe_pad_multiple` runs a short prompt with and without leading pads and keeps
the smallest multiple that is exact. Every prompt of a quantised model's generation
is then padded from the start to a whole number of lanes, alone as in any batch
(OnnxCandidateModel._lane_width): two batches differ in a prompt's pads by whole
lanes only, so prompts of any lengths share a batch and each gives exactly what it
gives alone. (Until issue 16's last stop, batches held only prompts whose lengths
differed by that multiple, which split a batch of 8 into up to 4 small ones.) If no
multiple is exact, batches hold prompts of equal length only, exact by construction.
Scoring batches of a quantised model keep to equal lengths, since scoring
reuses shared prefixes throughout.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

# Multiples tried, smallest first: SSE/NEON lanes (4 floats), AVX2 (8), AVX-512 (16).
CANDIDATE_MULTIPLES = (4, 8, 16)
# The probe's prompt: long enough to span several lanes, short enough to cost ~nothing.
PROBE_TEXT = "The chest radiograph shows a small right pleural effusion and no pneumothorax."


class Forward(Protocol):
    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray,
                 position_ids: np.ndarray, past: list[np.ndarray] | None
                 ) -> tuple[np.ndarray, list[np.ndarray]]: ...


def _padded_logits(forward: Forward, ids: list[int], pads: int, pad_id: int) -> np.ndarray:
    """Last-position logits of `ids` after `pads` left pads, and one decode step's."""
    x = np.asarray([[pad_id] * pads + ids], np.int64)
    mask = np.asarray([[0] * pads + [1] * len(ids)], np.int64)
    pos = np.cumsum(mask, axis=1) - 1
    pos[mask == 0] = 1
    logits, past = forward(x, mask, pos, None)
    nxt = int(np.argmax(logits[0, -1]))
    mask = np.concatenate([mask, np.ones((1, 1), np.int64)], axis=1)
    step, _ = forward(np.asarray([[nxt]], np.int64), mask,
                      np.asarray([[len(ids)]], np.int64), past)
    return np.concatenate([logits[0, -1], step[0, -1]])


def probe_pad_multiple(forward: Forward, ids: list[int], pad_id: int) -> int | None:
    """The smallest pad multiple whose batches are bitwise exact here, or None."""
    alone = _padded_logits(forward, ids, 0, pad_id)
    for multiple in CANDIDATE_MULTIPLES:
        if all(np.array_equal(_padded_logits(forward, ids, pads, pad_id), alone)
               for pads in (multiple, 2 * multiple)):
            return multiple
    return None
