"""How prompts are grouped into batches and padded, so a batch scores like one at a time.

Prompts are left-padded, so the answer position is always the last column;
batches hold prompts of similar length (padding is wasted compute), and a
batch's transient buffers stay under a fixed memory budget. Generation adds a
second budget: the batch's KV cache at its longest, which onnxruntime holds
twice during a decode step (the past fed in and the present coming out).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from engine.models.manifest import ModelManifest

# Logits for a whole batch are [batch, length, vocab] floats; cap that buffer.
LOGITS_BUDGET_BYTES = 256 * 2**20   # also bounds attention scores with the last head

# The KV cache of a decoding batch may take this much, or a quarter of the weights when
# that is more (a 7B model's batch needs GBs): peak memory at batch 16 then stays within
# about 1.5x of one stream (weights + two copies of the cache).
KV_CACHE_BUDGET_BYTES = 128 * 2**20
# On a GPU the cache lives in the card's memory beside the weights (already loaded when
# this is asked): a batch may take this share of what is free then. onnxruntime holds the
# past and the present at once in a step, so 0.4 keeps both within 80% of free memory and
# leaves the rest for activations and the allocator's slack.
DEVICE_KV_SHARE = 0.4

# The share of its memory budget the largest buffer of a batch of `rows` prompts `width`
# tokens wide takes; a batch is formed only while this stays at most 1.
BatchCost = Callable[[int, int], float]


def query_heads(folder: Path, manifest: ModelManifest) -> int:
    """Query heads (for the attention-score memory bound); config.json, else a guess."""
    try:
        return int(json.loads((folder / "config.json").read_text())["num_attention_heads"])
    except (OSError, ValueError, KeyError, TypeError):
        return max(1, manifest.num_kv_heads) * 4


def uses_sliding_window(folder: Path) -> bool:
    """Whether some layer attends over a sliding window (Mistral v0.1, Gemma 2/3, Phi-3):
    config.json's `sliding_window`, unless `use_sliding_window` turns it off (Qwen2/3).

    The exported mask counts the window in cache slots, pads included, so pads between
    a shared prefix and a suffix would hide real tokens from the window."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(config.get("sliding_window")) and config.get("use_sliding_window") is not False


def batch_cost(last_position_head: bool, heads: int, vocab_size: int) -> BatchCost:
    """What grows with a batch: attention scores with the last-position head, else logits."""
    budget = LOGITS_BUDGET_BYTES / 4   # float32 elements
    if last_position_head:
        # logits are one row per prompt; what grows is attention scores, ~heads*width^2
        return lambda rows, width: rows * heads * width * (width + 1) / budget
    return lambda rows, width: rows * width * max(vocab_size, 1) / budget


def kv_cache_budget(weight_bytes: int, device_free_bytes: int | None = None) -> int:
    """Bytes a decoding batch's KV cache may take: from the device's free memory when the
    model runs on a GPU (DEVICE_KV_SHARE), else from the weights (KV_CACHE_BUDGET_BYTES)."""
    if device_free_bytes is not None:
        return max(KV_CACHE_BUDGET_BYTES, int(device_free_bytes * DEVICE_KV_SHARE))
    return max(KV_CACHE_BUDGET_BYTES, weight_bytes // 4)


def generation_cost(prefill: BatchCost, kv_bytes_per_token: int, new_tokens: int,
                    kv_budget: int) -> BatchCost:
    """The prefill's buffers, or the KV cache once `new_tokens` are decoded, if larger."""
    def cost(rows: int, width: int) -> float:
        kv = rows * (width + new_tokens) * kv_bytes_per_token / kv_budget
        return max(prefill(rows, width), kv)
    return cost


def group_by_length(lengths: list[int], batch_size: int, pad_multiple: int | None,
                    cost: BatchCost) -> list[list[int]]:
    """Group prompt indices of similar length, bounded by batch size and memory.

    Lengths within a batch differ by a multiple of `pad_multiple` (1: any padding, as
    fp32 allows; a quantised model's lane width, engine.models.pad_alignment; None: equal
    lengths only), so every row's padding keeps it exactly what it is alone.
    """
    def residue(n: int) -> int:
        return n if pad_multiple is None else n % pad_multiple

    # By residue then length: prompts that may share a batch come out side by side.
    order = sorted(range(len(lengths)), key=lambda i: (residue(lengths[i]), lengths[i]))
    batches: list[list[int]] = []
    for i in order:
        cur = batches[-1] if batches else None
        if cur is not None:
            width, first = lengths[i], lengths[cur[0]]  # the newcomer is the widest
            similar = residue(width) == residue(first) and width <= first * 1.25 + 8
            fits = (similar and len(cur) < batch_size
                    and cost(len(cur) + 1, width) <= 1.0)
            if fits:
                cur.append(i)
                continue
        batches.append([i])
    return batches


def left_pad(suffixes: list[list[int]], prefix_length: int, pad_token_id: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """input_ids, attention mask and position ids for rows that follow a shared prefix.

    Rows are left-padded, so pads sit between the shared prefix and each
    suffix; the attention mask hides them and position ids skip them, which
    makes every row exactly what it would be alone.
    """
    b = len(suffixes)
    width = max(len(s) for s in suffixes)
    ids = np.full((b, width), pad_token_id, dtype=np.int64)
    mask = np.zeros((b, width), dtype=np.int64)
    for r, s in enumerate(suffixes):
        ids[r, width - len(s):] = s
        mask[r, width - len(s):] = 1
    pos = prefix_length + np.cumsum(mask, axis=1) - 1
    pos[mask == 0] = 1
    return ids, mask, pos
