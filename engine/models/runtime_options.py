"""The run-time switches of the ONNX backend, read from the environment in one place.

Both switches exist for comparison runs (benchmarks, tests): each alternative gives
equal results, only slower. They are read when a model is loaded, not when a module
is imported, so a process can load two models with different settings and a test
never depends on what was in the environment when pytest started.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Mapping

from engine.errors import SafeVetError

# "last": logits only at the last position (a Slice inserted before the LM head, derived
# in memory from the verified model.onnx, see scoring_graph); "full": the exported graph
# as is, logits at every position. Results are equal; "full" is kept for comparison.
SCORING_HEADS = ("last", "full")
SCORING_HEAD_VARIABLE = "SAFEVET_SCORING_HEAD"
# "fused": one ONNX Attention node per layer in place of optimum's unfused subgraph (see
# attention_fusion; results equal); "plain": the exported attention, kept for comparison.
ATTENTION_MODES = ("fused", "plain")
ATTENTION_VARIABLE = "SAFEVET_ATTENTION"
# Where the KV cache lives while decoding: "device" keeps it in onnxruntime's memory on
# the execution provider between steps (IO binding, engine.models.device_kv); "host" hands
# numpy arrays to every step; "auto" is device on CUDA (where host arrays would cross the
# bus at every token) and host on CPU (where both are equal and host was measured first).
KV_CACHE_PLACES = ("auto", "device", "host")
KV_CACHE_VARIABLE = "SAFEVET_KV_CACHE"


@dataclass(frozen=True)
class RuntimeOptions:
    """How the scoring graph is derived; checked on creation so a typo fails at load."""

    scoring_head: str = "last"
    attention: str = "fused"
    kv_cache: str = "auto"

    def __post_init__(self) -> None:
        if self.scoring_head not in SCORING_HEADS:
            raise SafeVetError(f"scoring_head must be one of {SCORING_HEADS}, "
                               f"not {self.scoring_head!r}")
        if self.attention not in ATTENTION_MODES:
            raise SafeVetError(f"attention must be one of {ATTENTION_MODES}, "
                               f"not {self.attention!r}")
        if self.kv_cache not in KV_CACHE_PLACES:
            raise SafeVetError(f"kv_cache must be one of {KV_CACHE_PLACES}, "
                               f"not {self.kv_cache!r}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> "RuntimeOptions":
        """$SAFEVET_SCORING_HEAD, $SAFEVET_ATTENTION and $SAFEVET_KV_CACHE, each
        defaulting when unset."""
        env = os.environ if environ is None else environ
        return cls(scoring_head=env.get(SCORING_HEAD_VARIABLE, cls.scoring_head),
                   attention=env.get(ATTENTION_VARIABLE, cls.attention),
                   kv_cache=env.get(KV_CACHE_VARIABLE, cls.kv_cache))

    def overridden(self, scoring_head: str | None = None,
                   attention: str | None = None,
                   kv_cache: str | None = None) -> "RuntimeOptions":
        """These options with a caller's explicit choices (None or "" keeps the option)."""
        return replace(self, scoring_head=scoring_head or self.scoring_head,
                       attention=attention or self.attention,
                       kv_cache=kv_cache or self.kv_cache)

    def cache_on_device(self, execution_provider: str) -> bool:
        """Whether decoding keeps the KV cache on the provider (see KV_CACHE_PLACES)."""
        from engine.models.providers import CPU
        if self.kv_cache == "auto":
            return execution_provider != CPU
        return self.kv_cache == "device"
