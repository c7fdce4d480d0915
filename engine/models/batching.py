"""How prompts are grouped into batches and padded, so a batch scores like one at a time.

Prompts are left-padded, so the answer position is always the last column;
batches hold prompts of similar length (padding is wasted compute), and a
batch's transient buffers stay under a fixed memory budget.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from engine.models.manifest import ModelManifest

# Logits for a whole batch are [batch, length, vocab] floats; cap that buffer.
LOGITS_BUDGET_BYTES = 256 * 2**20   # also bounds attention scores with the last head

# float32 elements the largest buffer of a batch of `rows` prompts `width` tokens wide holds.
BatchCost = Callable[[int, int], int]


def query_heads(folder: Path, manifest: ModelManifest) -> int:
    """Query heads (for the attention-score memory bound); config.json, else a guess."""
    try:
        return int(json.loads((folder / "config.json").read_text())["num_attention_heads"])
    except (OSError, ValueError, KeyError, TypeError):
        return max(1, manifest.num_kv_heads) * 4


def batch_cost(last_position_head: bool, heads: int, vocab_size: int) -> BatchCost:
    """What grows with a batch: attention scores with the last-position head, else logits."""
    if last_position_head:
        # logits are one row per prompt; what grows is attention scores, ~heads*width^2
        return lambda rows, width: rows * heads * width * (width + 1)
    return lambda rows, width: rows * width * max(vocab_size, 1)


def group_by_length(lengths: list[int], batch_size: int, pad_free: bool,
                    cost: BatchCost) -> list[list[int]]:
    """Group prompt indices of similar length, bounded by batch size and logits memory.

    `pad_free` batches only prompts of equal length (int8 needs it to stay bitwise
    equal to one at a time, see OnnxCandidateModel.pad_free_batches).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    budget = LOGITS_BUDGET_BYTES // 4   # float32 elements
    batches: list[list[int]] = []
    for i in order:
        cur = batches[-1] if batches else None
        if cur is not None:
            width = lengths[i]  # sorted ascending: the newcomer is the widest
            similar = (width == lengths[cur[0]] if pad_free
                       else width <= lengths[cur[0]] * 1.25 + 8)
            fits = (similar and len(cur) < batch_size
                    and cost(len(cur) + 1, width) <= budget)
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
