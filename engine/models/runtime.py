"""The candidate model at run time: onnxruntime + tokenizers + numpy, never torch.

A hospital workstation that only *runs* vetting must not need the export
toolchain, so this module imports nothing from transformers, optimum or torch.

Scoring is the hot path (issue 10). Its shape is chosen so it can get faster
without changing results: prompts are left-padded, so the answer position is
always the last column (a last-position-only output head can be dropped in
later); batches are formed from prompts of similar length; and the KV cache of
a prefix shared by the prompts (system prompt, evidence, question) is computed
once and reused.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from engine.errors import SafeVetError
from engine.events import ProgressCallback, emit
from engine.models import chat, tokens
from engine.models.manifest import ModelManifest
from engine.models.providers import ProviderChoice, choose_for_this_machine, physical_cores

# Logits for a whole batch are [batch, length, vocab] floats; cap that buffer.
LOGITS_BUDGET_BYTES = 256 * 2**20   # also bounds attention scores with the last head
# onnxruntime session config entries, recorded in session_info. Measured on SmolLM2-135M
# fp32, 2 cores, beside other work (load 2-4), batches of 8, best of 3, interleaved:
# spinning off was faster in every pair (~110-token prompts 7.1 vs 3.1 items/s, ~470-token
# 1.26 vs 0.59): spinning threads fight whatever else the workstation runs.
# Denormals as zero: softmax over masked attention scores produced subnormal floats whose
# arithmetic is ~20x slower on x86; flushing them took the fused attention kernel from
# 2.7 to 1.3 ms per layer at 336 tokens (results equal: only values < 1.2e-38 change).
SESSION_CONFIG: dict[str, str] = {
    "session.intra_op.allow_spinning": "0",
    "session.set_denormal_as_zero": "1",
}
# "last": logits only at the last position (a Slice inserted before the LM head, derived
# in memory from the verified model.onnx, see scoring_graph); "full": the exported graph
# as is, logits at every position. Results are equal; "full" is kept for comparison.
SCORING_HEADS = ("last", "full")
DEFAULT_SCORING_HEAD = os.environ.get("SAFEVET_SCORING_HEAD", "last")
# "fused": one ONNX Attention node per layer in place of optimum's unfused subgraph (see
# attention_fusion; results equal); "plain": the exported attention, kept for comparison.
ATTENTION_MODES = ("fused", "plain")
DEFAULT_ATTENTION = os.environ.get("SAFEVET_ATTENTION", "fused")
# A shared prefix shorter than this is not worth a separate forward pass.
MIN_SHARED_PREFIX = 8


class ContextLengthError(SafeVetError):
    """A prompt does not fit in the model's context window."""


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


@dataclass
class GenerationSettings:
    max_new_tokens: int = 128
    temperature: float = 0.0          # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)


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


@dataclass
class _PrefixCache:
    tokens: tuple[int, ...]
    past: list[np.ndarray]            # batch 1


def _release_freed_memory() -> None:
    """Hand freed heap back to the OS (glibc keeps it otherwise, inflating RSS)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _query_heads(folder: Path, manifest: ModelManifest) -> int:
    """Query heads (for the attention-score memory bound); config.json, else a guess."""
    try:
        import json
        return int(json.loads((folder / "config.json").read_text())["num_attention_heads"])
    except (OSError, ValueError, KeyError, TypeError):
        return max(1, manifest.num_kv_heads) * 4


def _common_head(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common leading run of two token sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


class CandidateModel:
    """An exported decoder (optimum `text-generation-with-past`) ready to score and generate."""

    def __init__(self, folder: Path, manifest: ModelManifest, provider: str = "auto",
                 threads: int | None = None, batch_size: int = 8,
                 choice: ProviderChoice | None = None,
                 scoring_head: str | None = None, attention: str | None = None) -> None:
        import onnxruntime as ort

        self.folder = Path(folder)
        self.manifest = manifest
        self.name = manifest.name
        self.context_length: int = manifest.context_length
        choice = choice or choose_for_this_machine(provider)
        self.execution_provider: str = choice.name
        self.provider_notice: str | None = choice.notice
        if manifest.precision == "fp16" and not choice.fp16_allowed:
            raise SafeVetError(f"model {self.name} is fp16, which SafeVet runs on CUDA only; "
                               f"{choice.notice or 'no CUDA provider'}")
        self.batch_size = max(1, batch_size)
        self.scoring_head = scoring_head or DEFAULT_SCORING_HEAD
        if self.scoring_head not in SCORING_HEADS:
            raise SafeVetError(f"scoring_head must be one of {SCORING_HEADS}, "
                               f"not {self.scoring_head!r}")
        attention = attention or DEFAULT_ATTENTION
        if attention not in ATTENTION_MODES:
            raise SafeVetError(f"attention must be one of {ATTENTION_MODES}, not {attention!r}")
        self.attention = attention
        self.reuse_prefix = True
        # int8 MatMulNBits (accuracy_level 4) quantises activations at run time, so a
        # last-bit change in float rounding (as padding causes) can flip a rounding and
        # move logits by ~0.5. Its batches therefore hold only prompts of equal length,
        # which is bitwise identical to one at a time; fp32 pads freely (|diff| ~1e-5).
        self.pad_free_batches = manifest.precision == "int8"

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or physical_cores()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        for key, value in SESSION_CONFIG.items():
            opts.add_session_config_entry(key, value)
        onnx_path = self.folder / manifest.onnx_file
        attention_info = "plain (as exported)"
        if self.scoring_head == "last" or attention == "fused":
            from engine.models.scoring_graph import derive_graph
            derived = derive_graph(onnx_path, manifest.files.get(manifest.onnx_file),
                                   last_position=self.scoring_head == "last",
                                   fuse=attention == "fused")
            graph: str | bytes = derived.data
            if derived.fused_attention_layers:
                attention_info = f"fused (ONNX Attention, {derived.fused_attention_layers} layers)"
            elif attention == "fused":
                attention_info = f"plain (not fusable: {derived.attention_note})"
            del derived
        else:
            graph = str(onnx_path)
        self.session = ort.InferenceSession(graph, opts, providers=choice.providers)
        if not isinstance(graph, str):
            del graph
            _release_freed_memory()   # the derivation's transient copies (~2x the model)
        # What a run record and `doctor` show about how this model executes.
        self.session_info: dict[str, object] = {
            "execution_provider": self.execution_provider,
            "providers": self.session.get_providers(),
            "intra_op_threads": opts.intra_op_num_threads,
            "inter_op_threads": opts.inter_op_num_threads,
            "execution_mode": "sequential",
            "graph_optimization": "all",
            "memory_pattern": opts.enable_mem_pattern,
            "cpu_mem_arena": opts.enable_cpu_mem_arena,
            **{k.rsplit(".", 1)[-1]: v for k, v in SESSION_CONFIG.items()},
            "scoring_head": self.scoring_head,
            "attention": attention_info,
            "onnxruntime": ort.__version__,
            "batch_size": self.batch_size,
            "pad_free_batches": self.pad_free_batches,
            "shared_prefix_reuse": self.reuse_prefix,
        }
        if self.session.get_providers()[0] != self.execution_provider:
            # onnxruntime fell back on its own (e.g. CUDA libraries missing): say so.
            self.execution_provider = self.session.get_providers()[0]
            self.provider_notice = (f"onnxruntime could not start {choice.name}; running on "
                                    f"{self.execution_provider}")
            self.session_info["execution_provider"] = self.execution_provider

        inputs = {i.name: i for i in self.session.get_inputs()}
        self._has_position_ids = "position_ids" in inputs
        self._past_names = [f"past_key_values.{i}.{kv}" for i in range(manifest.num_layers)
                            for kv in ("key", "value")]
        missing = [n for n in ["input_ids", "attention_mask", *self._past_names] if n not in inputs]
        if missing:
            raise SafeVetError(f"model {self.name}: ONNX graph lacks inputs {missing}; it was not "
                               f"exported with task text-generation-with-past")
        self._kv_dtype = np.float16 if inputs[self._past_names[0]].type == "tensor(float16)" \
            else np.float32
        self._output_names = ["logits"] + [n.replace("past_key_values", "present")
                                           for n in self._past_names]
        self.tokenizer = tokens.load_tokenizer(self.folder / "tokenizer.json")
        self.vocab_size = int(self.session.get_outputs()[0].shape[-1]
                              if isinstance(self.session.get_outputs()[0].shape[-1], int)
                              else manifest.vocab_size)
        st = manifest.special_tokens
        self.pad_token_id = st.pad_token_id if st.pad_token_id is not None else (
            st.eos_token_id if st.eos_token_id is not None else 0)
        self.stop_token_ids = set(st.stop_token_ids or
                                  ([st.eos_token_id] if st.eos_token_id is not None else []))
        self._letter_ids: dict[str, int] = {}
        self._prefix_cache: _PrefixCache | None = None
        self._query_heads = _query_heads(self.folder, manifest)

    # ------------------------------------------------------------------ text
    def render_chat(self, messages: list[dict[str, str]],
                    add_generation_prompt: bool = True) -> str:
        st = self.manifest.special_tokens
        return chat.render_chat(self.manifest.chat_template, messages, add_generation_prompt,
                                bos_token=st.bos_token or "", eos_token=st.eos_token or "",
                                pad_token=st.pad_token or "")

    def encode(self, text: str) -> list[int]:
        return tokens.encode(self.tokenizer, text)

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def letter_token_id(self, letter: str) -> int:
        tid = self._letter_ids.get(letter)
        if tid is None:
            tid = self._letter_ids[letter] = tokens.resolve_letter_token(self.tokenizer, letter)
        return tid

    # --------------------------------------------------------------- forward
    def _empty_past(self, batch: int) -> list[np.ndarray]:
        m = self.manifest
        empty = np.zeros((batch, m.num_kv_heads, 0, m.head_dim), dtype=self._kv_dtype)
        return [empty] * len(self._past_names)

    def _forward(self, input_ids: np.ndarray, attention_mask: np.ndarray,
                 position_ids: np.ndarray, past: list[np.ndarray] | None
                 ) -> tuple[np.ndarray, list[np.ndarray]]:
        feed: dict[str, np.ndarray] = {"input_ids": input_ids.astype(np.int64),
                                       "attention_mask": attention_mask.astype(np.int64)}
        if self._has_position_ids:
            feed["position_ids"] = position_ids.astype(np.int64)
        past = past if past is not None else self._empty_past(input_ids.shape[0])
        feed.update(zip(self._past_names, past))
        out = self.session.run(self._output_names, feed)
        return out[0], out[1:]

    def _check_fits(self, n_tokens: int, what: str) -> None:
        if n_tokens == 0:
            raise SafeVetError(f"{what} is empty")
        if n_tokens > self.context_length:
            raise ContextLengthError(f"{what} has {n_tokens} tokens; model {self.name} holds "
                                     f"{self.context_length}")

    def _prefix_past(self, prefix: tuple[int, ...]) -> list[np.ndarray]:
        """KV cache (batch 1) of `prefix`, kept for the next call that shares it.

        Whatever head the new prefix shares with the cached one is not run again:
        system prompt then system prompt + evidence, or one item's question then
        the next item's (same system prompt). Attention is causal, so the cached
        keys/values of the first c tokens depend on those tokens only, and cutting
        the cache at c is exact.
        """
        cache = self._prefix_cache
        if cache is not None and cache.tokens == prefix:
            return cache.past
        n = len(prefix)
        start, past = 0, None
        if cache is not None:
            common = _common_head(cache.tokens, prefix)
            if common == n:
                past = [t[:, :, :n, :] for t in cache.past]
                self._prefix_cache = _PrefixCache(prefix, past)
                return past
            if common >= MIN_SHARED_PREFIX:
                start = common
                past = [t[:, :, :common, :] for t in cache.past]
        ids = np.asarray([prefix[start:]], dtype=np.int64)
        _, past = self._forward(ids, np.ones((1, n), np.int64), np.arange(start, n)[None], past)
        self._prefix_cache = _PrefixCache(prefix, past)
        return past

    def _last_logits(self, suffixes: list[list[int]], prefix: tuple[int, ...]) -> np.ndarray:
        """Logits at the last position of prefix+suffix for each row, in one forward pass.

        Rows are left-padded, so pads sit between the shared prefix and each
        suffix; the attention mask hides them and position ids skip them, which
        makes every row exactly what it would be alone.
        """
        b, p = len(suffixes), len(prefix)
        width = max(len(s) for s in suffixes)
        ids = np.full((b, width), self.pad_token_id, dtype=np.int64)
        mask = np.zeros((b, width), dtype=np.int64)
        for r, s in enumerate(suffixes):
            ids[r, width - len(s):] = s
            mask[r, width - len(s):] = 1
        pos = p + np.cumsum(mask, axis=1) - 1
        pos[mask == 0] = 1
        if p:
            past1 = self._prefix_past(prefix)
            past = [np.repeat(t, b, axis=0) for t in past1]
            full_mask = np.concatenate([np.ones((b, p), np.int64), mask], axis=1)
        else:
            past, full_mask = None, mask
        logits, _ = self._forward(ids, full_mask, pos, past)
        return logits[:, -1, :]

    def _shared_prefix(self, encoded: list[list[int]]) -> tuple[int, ...]:
        """Tokens every prompt starts with, leaving each at least one token to run.

        Within one call: the prompts' common prefix. A lone prompt (or prompts
        sharing little) reuses what it shares with the prefix an earlier call
        computed (e.g. the system prompt).
        """
        if not self.reuse_prefix:
            return ()
        limit = min(len(e) for e in encoded) - 1
        first = encoded[0]
        n = 0
        if len(encoded) > 1:
            while n < limit and all(e[n] == first[n] for e in encoded[1:]):
                n += 1
        if n >= MIN_SHARED_PREFIX:
            return tuple(first[:n])
        cache = self._prefix_cache
        if cache is not None:
            c = min([limit] + [_common_head(cache.tokens, e) for e in encoded])
            if c >= MIN_SHARED_PREFIX:
                return tuple(first[:c])
        return ()

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Group prompt indices of similar length, bounded by batch size and logits memory."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        if self.scoring_head == "last":
            # logits are one row per prompt; what grows is attention scores, ~heads*width^2
            heads = self._query_heads
            cost = lambda rows, width: rows * heads * width * (width + 1)  # noqa: E731
        else:
            cost = lambda rows, width: rows * width * max(self.vocab_size, 1)  # noqa: E731
        budget = LOGITS_BUDGET_BYTES // 4
        batches: list[list[int]] = []
        for i in order:
            cur = batches[-1] if batches else None
            if cur is not None:
                width = lengths[i]  # sorted ascending: the newcomer is the widest
                similar = (width == lengths[cur[0]] if self.pad_free_batches
                           else width <= lengths[cur[0]] * 1.25 + 8)
                fits = (similar and len(cur) < self.batch_size
                        and cost(len(cur) + 1, width) <= budget)
                if fits:
                    cur.append(i)
                    continue
            batches.append([i])
        return batches

    # --------------------------------------------------------------- scoring
    def score_options(self, prompts: list[str], letters: list[Sequence[str]],
                      progress: Optional[ProgressCallback] = None) -> list[OptionScores]:
        """Probability of each offered letter at the end of each prompt.

        Each prompt ends exactly where the answer letter goes ("...Answer:").
        One forward pass per prompt, batched internally; the per-item latency
        is the item's share of its batch's (and shared prefix's) wall time.
        """
        if len(prompts) != len(letters):
            raise SafeVetError(f"{len(prompts)} prompts but {len(letters)} letter lists")
        if not prompts:
            return []
        encoded = [self.encode(p) for p in prompts]
        for i, e in enumerate(encoded):
            self._check_fits(len(e), f"prompt {i}")
        letter_ids = [[self.letter_token_id(l) for l in ls] for ls in letters]
        for i, ls in enumerate(letters):
            if not ls:
                raise SafeVetError(f"prompt {i} offers no option letters")
        t0 = time.perf_counter()
        prefix = self._shared_prefix(encoded)
        if prefix:
            self._prefix_past(prefix)
        prefix_ms = (time.perf_counter() - t0) * 1000.0 / len(prompts)
        results: list[OptionScores | None] = [None] * len(prompts)
        done = 0
        for batch in self._batches([len(e) for e in encoded]):
            t = time.perf_counter()
            last = self._last_logits([encoded[i][len(prefix):] for i in batch], prefix)
            share = (time.perf_counter() - t) * 1000.0 / len(batch)
            logp = _log_softmax(last)
            for r, i in enumerate(batch):
                lp = {l: float(logp[r, tid]) for l, tid in zip(letters[i], letter_ids[i])}
                vals = np.array(list(lp.values()))
                p = np.exp(vals - vals.max())
                p /= p.sum()
                results[i] = OptionScores(probs=dict(zip(lp, map(float, p))), logprobs=lp,
                                          prompt_tokens=len(encoded[i]),
                                          latency_ms=share + prefix_ms)
            done += len(batch)
            emit(progress, "score", f"scored {done}/{len(prompts)}", done=done,
                 total=len(prompts))
        return [r for r in results if r is not None]

    def next_token_logits(self, prompts: list[str]) -> np.ndarray:
        """Raw logits at the last position of each prompt (float32, [n, vocab]); for checks."""
        encoded = [self.encode(p) for p in prompts]
        out = np.zeros((len(prompts), self.vocab_size), np.float32)
        for batch in self._batches([len(e) for e in encoded]):
            out[batch] = self._last_logits([encoded[i] for i in batch], ())
        return out

    # ------------------------------------------------------------ generation
    def generate(self, prompt: str, settings: GenerationSettings | None = None) -> Generation:
        """Decode with a KV cache: greedy at temperature 0, else seeded top-p sampling."""
        s = settings or GenerationSettings()
        if s.temperature < 0 or not (0 < s.top_p <= 1) or s.max_new_tokens < 0:
            raise SafeVetError("generation needs temperature >= 0, 0 < top_p <= 1 and "
                               "max_new_tokens >= 0")
        ids = self.encode(prompt)
        self._check_fits(len(ids), "prompt")
        rng = np.random.default_rng(s.seed)
        t0 = time.perf_counter()
        room = self.context_length - len(ids)
        budget = min(s.max_new_tokens, room)
        out: list[int] = []
        finish = "length" if budget == s.max_new_tokens else "context"
        computed = 0
        text: str | None = None          # set when a stop string cut the text
        if budget > 0:
            n = len(ids)
            logits, past = self._forward(np.asarray([ids]), np.ones((1, n), np.int64),
                                         np.arange(n)[None], None)
            next_logits = logits[0, -1]
            while True:
                tok = self._pick(next_logits, s, rng)
                computed += 1
                if tok in self.stop_token_ids:
                    finish = "stop"
                    break
                out.append(tok)
                if s.stop:
                    so_far = self.tokenizer.decode(out, skip_special_tokens=True)
                    cut = min((so_far.find(x) for x in s.stop if x and x in so_far), default=-1)
                    if cut >= 0:
                        text, finish = so_far[:cut], "stop"
                        break
                if len(out) >= budget:
                    break
                n += 1
                logits, past = self._forward(np.asarray([[tok]]), np.ones((1, n), np.int64),
                                             np.asarray([[n - 1]]), past)
                next_logits = logits[0, -1]
        if text is None:
            text = self.tokenizer.decode(out, skip_special_tokens=True)
        return Generation(text=text, prompt_tokens=len(ids), completion_tokens=computed,
                          latency_ms=(time.perf_counter() - t0) * 1000.0, finish_reason=finish)

    @staticmethod
    def _pick(logits: np.ndarray, s: GenerationSettings, rng: np.random.Generator) -> int:
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
