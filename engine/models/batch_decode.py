"""Decoding many prompts together: one forward pass per step for the whole batch.

A CPU or GPU does a batch of rows for little more than one row's cost while
decoding (the weights are read once per step, not once per sequence), so open
answers, agentic search turns and samples decode in batches. What must not
change is any sequence's result, so each one keeps its own of everything that
decides it: its prompt (left-padded; the attention mask hides the pads and
position ids skip them, exactly as in scoring), its `GenerationSettings`, its
own random generator seeded from those settings (a sample is the same whatever
it is batched with), its own stop rule (end-of-turn token, stop strings, token
budget). A sequence that stops leaves the batch at once: its rows are cut out
of the KV cache, so the rest decode without carrying it.

Each sequence's `latency_ms` is its share of the batch's wall time: the
prefill split evenly, then each step split among the sequences still decoding.
The shares add up to the wall time, so tokens per second summed over a run
counts the time really spent.

Where the cache lives between steps is the `CacheKeeper`'s business: host arrays
by default, or OrtValues on the execution provider's device (engine.models.device_kv),
so on a GPU the cache never crosses the bus per token.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from engine.models.generation import Generation, GenerationSettings, cut_at_stop, pick_next_token


@dataclass(frozen=True)
class DecodeRequest:
    """One prompt to continue: its token ids, settings and how many new tokens it may have."""

    ids: list[int]
    settings: GenerationSettings
    budget: int            # new tokens allowed: max_new_tokens, or what the window leaves
    out_of_room: str       # finish reason when the budget runs out: "length" or "context"


@dataclass
class _Stream:
    request: DecodeRequest
    rng: np.random.Generator
    out: list[int] = field(default_factory=list)
    computed: int = 0                  # tokens produced, an end-of-turn token included
    ms: float = 0.0
    text: str | None = None            # set when a stop string cut the text
    finish: str = ""

    def __post_init__(self) -> None:
        self.finish = self.request.out_of_room


class Prefill(Protocol):
    """Run prompts (a batch) once: last-position logits [b, vocab], KV cache, attention mask."""

    def __call__(self, prompts: list[list[int]]
                 ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]: ...


class Step(Protocol):
    """One decode step: next tokens [b, 1], mask [b, total], positions [b, 1], past ->
    logits [b, 1 or more, vocab] (the last column is read) and the grown KV cache."""

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray,
                 position_ids: np.ndarray, past: Sequence[Any]
                 ) -> tuple[np.ndarray, Sequence[Any]]: ...


class CacheKeeper(Protocol):
    """Holds a batch's KV cache between steps: takes the prefill's host arrays, and keeps
    the rows of the sequences still decoding. What it holds is what `step` takes."""

    def adopt(self, past: list[np.ndarray]) -> Sequence[Any]: ...

    def keep_rows(self, past: Sequence[Any], rows: list[int]) -> Sequence[Any]: ...


class HostCache:
    """The cache as numpy arrays, handed to every step."""

    def adopt(self, past: list[np.ndarray]) -> list[np.ndarray]:
        return past

    def keep_rows(self, past: Sequence[Any], rows: list[int]) -> list[np.ndarray]:
        return [p[rows] for p in past]


HOST_CACHE = HostCache()


def decode_together(requests: list[DecodeRequest], prefill: Prefill, step: Step,
                    stop_token_ids: set[int], detokenize: Callable[[list[int]], str],
                    cache: CacheKeeper = HOST_CACHE) -> list[Generation]:
    """Generations for `requests`, in their order, decoded as one batch."""
    streams = [_Stream(r, np.random.default_rng(r.settings.seed)) for r in requests]
    active = [s for s in streams if s.request.budget > 0]
    if active:
        _run(active, prefill, step, stop_token_ids, detokenize, cache)
    return [Generation(text=s.text if s.text is not None else detokenize(s.out),
                       prompt_tokens=len(s.request.ids), completion_tokens=s.computed,
                       latency_ms=s.ms, finish_reason=s.finish) for s in streams]


def _run(active: list[_Stream], prefill: Prefill, step: Step, stop_token_ids: set[int],
         detokenize: Callable[[list[int]], str], cache: CacheKeeper) -> None:
    t = time.perf_counter()
    logits, host_past, mask = prefill([s.request.ids for s in active])
    past = cache.adopt(host_past)
    del host_past
    positions = np.asarray([len(s.request.ids) for s in active], np.int64)
    while True:
        elapsed = (time.perf_counter() - t) * 1000.0
        for s in active:
            s.ms += elapsed / len(active)
        t = time.perf_counter()
        keep = [r for r, s in enumerate(active)
                if _take(s, logits[r], stop_token_ids, detokenize)]
        if not keep:
            return
        if len(keep) < len(active):   # finished sequences leave the cache
            past = cache.keep_rows(past, keep)
            mask, positions = mask[keep], positions[keep]
            active = [active[r] for r in keep]
        tokens = np.asarray([[s.out[-1]] for s in active], np.int64)
        mask = np.concatenate([mask, np.ones((len(active), 1), np.int64)], axis=1)
        out, past = step(tokens, mask, positions[:, None], past)
        logits = out[:, -1, :]
        positions = positions + 1


def _take(s: _Stream, logits: np.ndarray, stop_token_ids: set[int],
          detokenize: Callable[[list[int]], str]) -> bool:
    """Pick `s`'s next token; True while it goes on decoding."""
    settings = s.request.settings
    tok = pick_next_token(logits, settings, s.rng)
    s.computed += 1
    if tok in stop_token_ids:
        s.finish = "stop"
        return False
    s.out.append(tok)
    if settings.stop:
        s.text = cut_at_stop(detokenize(s.out), settings.stop)
        if s.text is not None:
            s.finish = "stop"
            return False
    return len(s.out) < s.request.budget
