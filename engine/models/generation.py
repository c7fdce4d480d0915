"""Free-text generation's settings, result and token choice, independent of any backend.

Conditions (agentic query writing), the executor (open items) and model judges
ask for text with these types, so a second backend needs only to honour them;
the sampling rule lives here so two backends would pick tokens the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.errors import SafeVetError


@dataclass
class GenerationSettings:
    max_new_tokens: int = 128
    temperature: float = 0.0          # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Refuse settings the sampler cannot honour before any compute is spent."""
        if self.temperature < 0 or not (0 < self.top_p <= 1) or self.max_new_tokens < 0:
            raise SafeVetError("generation needs temperature >= 0, 0 < top_p <= 1 and "
                               "max_new_tokens >= 0")


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int            # tokens the model produced, counting an end-of-turn token
    latency_ms: float
    finish_reason: str                # "stop" (end of turn / stop string), "length", "context"

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / max(self.latency_ms / 1000.0, 1e-9)


def pick_next_token(logits: np.ndarray, s: GenerationSettings, rng: np.random.Generator) -> int:
    """Greedy at temperature 0, else top-p sampling from a seeded generator (reproducible)."""
    if s.temperature == 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / s.temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    if s.top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order])
        keep = order[: int(np.searchsorted(cum, s.top_p) + 1)]
        q = np.zeros_like(p)
        q[keep] = p[keep]
        p = q / q.sum()
    return int(rng.choice(len(p), p=p))


def cut_at_stop(text: str, stops: list[str]) -> str | None:
    """`text` up to the earliest stop string it contains, or None when it contains none."""
    cut = min((text.find(x) for x in stops if x and x in text), default=-1)
    return text[:cut] if cut >= 0 else None
