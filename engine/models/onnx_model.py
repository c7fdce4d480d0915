"""The candidate model on ONNX Runtime: onnxruntime + tokenizers + numpy, never torch.

A hospital workstation that only *runs* vetting must not need the export
toolchain, so this module imports nothing from transformers, optimum or torch.

Scoring is the hot path (issue 10). Its shape is chosen so it can get faster
without changing results: prompts are left-padded, so the answer position is
always the last column (engine.models.batching); batches are formed from
prompts of similar length; and the KV cache of a prefix shared by the prompts
(system prompt, evidence, question) is computed once and reused
(engine.models.prefix_cache). The session itself is built in
engine.models.session; this class implements engine.models.protocol.CandidateModel.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from engine.errors import SafeVetError
from engine.events import ProgressCallback, emit
from engine.models import chat, prefix_cache, tokens
from engine.models.batch_decode import HOST_CACHE, DecodeRequest, decode_together
from engine.models.batching import (batch_cost, generation_cost, group_by_length,
                                    kv_cache_budget, left_pad, query_heads,
                                    uses_sliding_window)
from engine.models.generation import Generation, GenerationSettings
from engine.models.manifest import ModelManifest
from engine.models.option_scores import OptionScores, log_softmax, option_scores
from engine.models.prefix_cache import CachedPrefix
from engine.models.protocol import ContextLengthError
from engine.models.providers import ProviderChoice, choose_for_this_machine
from engine.models.runtime_options import RuntimeOptions
from engine.models.session import open_session

if TYPE_CHECKING:
    from engine.models.device_kv import DeviceKvCache


class OnnxCandidateModel:
    """An exported decoder (optimum `text-generation-with-past`) ready to score and generate."""

    def __init__(self, folder: Path, manifest: ModelManifest, provider: str = "auto",
                 threads: int | None = None, batch_size: int = 8,
                 generation_batch_size: int = 16,
                 choice: ProviderChoice | None = None,
                 scoring_head: str | None = None, attention: str | None = None,
                 options: RuntimeOptions | None = None) -> None:
        """`options` as read by the caller (load_model: from the environment); an explicit
        `scoring_head` or `attention` overrides it, as comparison runs and tests need."""
        self.folder = Path(folder)
        self.manifest = manifest
        self.name = manifest.name
        self.context_length: int = manifest.context_length
        choice = choice or choose_for_this_machine(provider)
        if manifest.precision == "fp16" and not choice.fp16_allowed:
            raise SafeVetError(f"model {self.name} is fp16, which SafeVet runs on CUDA only; "
                               f"{choice.notice or 'no CUDA provider'}")
        self.batch_size = max(1, batch_size)
        self.generation_batch_size = max(1, generation_batch_size)
        self.options = (options or RuntimeOptions()).overridden(scoring_head, attention)
        self.reuse_prefix = True

        opened = open_session(self.folder, manifest, choice, threads, self.options)
        self.session = opened.session
        self.execution_provider: str = opened.execution_provider
        self.provider_notice: str | None = opened.provider_notice
        # What a run record and `doctor` show about how this model executes.
        self.session_info: dict[str, object] = {
            **opened.record(),
            "batch_size": self.batch_size,
            "generation_batch_size": self.generation_batch_size,
            "shared_prefix_reuse": self.reuse_prefix,
        }
        self._bind_graph_io()
        # Pads between a reused prefix and a suffix are exact only when positions are given
        # (optimum exports Gemma without position_ids: they follow the cache length) and no
        # window counts cache slots (sliding-window attention). Otherwise prompts are
        # padded from the very start, where neither sees them.
        self._pads_lead_only = not self._has_position_ids or uses_sliding_window(self.folder)
        if self._pads_lead_only:
            self.session_info["shared_prefix_reuse"] = self.reuse_prefix = False
        self.tokenizer = tokens.load_tokenizer(self.folder / "tokenizer.json")
        st = manifest.special_tokens
        self.pad_token_id = st.pad_token_id if st.pad_token_id is not None else (
            st.eos_token_id if st.eos_token_id is not None else 0)
        self.stop_token_ids = set(st.stop_token_ids or
                                  ([st.eos_token_id] if st.eos_token_id is not None else []))
        self._letter_ids: dict[str, int] = {}
        self._prefix_cache: CachedPrefix | None = None
        self._query_heads = query_heads(self.folder, manifest)
        # The graph and its external data (model.onnx, model.onnx_data): the weights.
        self._weight_bytes = sum((self.folder / rel).stat().st_size for rel in manifest.files
                                 if rel.startswith(manifest.onnx_file))
        itemsize = np.dtype(self._kv_dtype).itemsize
        self._kv_bytes_per_token = (2 * manifest.num_layers * manifest.num_kv_heads
                                    * manifest.head_dim * itemsize)
        self.pad_multiple = self._pad_multiple()
        self.session_info["pad_multiple"] = self.pad_multiple
        self._device_kv = self._device_cache()
        self.session_info["kv_cache"] = (self._device_kv.describe() if self._device_kv
                                         else "host (numpy)")
        self._device_free_bytes = self._record_device()

    def _bind_graph_io(self) -> None:
        """Check the graph has the inputs and outputs decoding with a KV cache needs."""
        manifest = self.manifest
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
        vocab = self.session.get_outputs()[0].shape[-1]
        self.vocab_size = int(vocab if isinstance(vocab, int) else manifest.vocab_size)

    def _device_cache(self) -> "DeviceKvCache | None":
        """The decode path that keeps the KV cache on the device, when options ask for it
        (by default: whenever the model runs on a GPU)."""
        if not self.options.cache_on_device(self.execution_provider):
            return None
        from engine.models.device_kv import DeviceKvCache, device_of
        return DeviceKvCache(self.session, self._past_names, self._output_names[1:],
                             self._has_position_ids, np.dtype(self._kv_dtype),
                             device_of(self.execution_provider))

    def _record_device(self) -> int | None:
        """Name the onnxruntime build, and on a GPU the card and its memory, in the session
        record (the report cover shows them); the card's free memory bounds decoding
        batches (batching.kv_cache_budget)."""
        from engine.models.gpu_device import query_gpu, runtime_package
        from engine.models.providers import CUDA
        self.session_info["onnxruntime_package"] = runtime_package()
        if self.execution_provider != CUDA:
            return None
        facts = query_gpu()
        self.session_info["device"] = facts.describe() if facts else "GPU (not described: " \
            "nvidia-smi gave nothing)"
        return facts.free_bytes if facts else None

    def _pad_multiple(self) -> int | None:
        """How far apart prompt lengths in one batch may be (engine.models.pad_alignment).

        fp32 pads freely (1): padding moves a logit by ~1e-5 and no greedy text changed in
        tests; so does a quantised recipe whose kernel keeps activations in float. One that
        quantises activations (engine.models.quantize.pads_exactly) keeps to the pad
        multiple probed here as bitwise exact (None: equal lengths only).
        """
        from engine.models.quantize import pads_exactly
        if pads_exactly(self.manifest.quantization):
            return 1
        if not self._has_position_ids:
            return None   # cache-length positions: a prompt run alone then padded would shift
        from engine.models.pad_alignment import PROBE_TEXT, probe_pad_multiple
        return probe_pad_multiple(self._forward, self.encode(PROBE_TEXT), self.pad_token_id)

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
        return out[0].astype(np.float32, copy=False), out[1:]   # fp16 models: float logits

    def _check_fits(self, n_tokens: int, what: str) -> None:
        if n_tokens == 0:
            raise SafeVetError(f"{what} is empty")
        if n_tokens > self.context_length:
            raise ContextLengthError(f"{what} has {n_tokens} tokens; model {self.name} holds "
                                     f"{self.context_length}")

    def forget_prefix_cache(self) -> None:
        """Drop the prefix kept from earlier calls. A run's work package starts here, so its
        results do not depend on which packages this process ran before (the local loop and
        each Ray replica run different sequences of them): extending a cached prefix is
        exact in arithmetic but not to the last bit of a float."""
        self._prefix_cache = None

    def _prefix_past(self, prefix: tuple[int, ...]) -> list[np.ndarray]:
        """KV cache (batch 1) of `prefix`, kept for the next call that shares it."""
        self._prefix_cache = prefix_cache.cache_prefix(self._prefix_cache, prefix,
                                                       self._forward)
        return self._prefix_cache.past

    def _last_logits(self, suffixes: list[list[int]], prefix: tuple[int, ...]) -> np.ndarray:
        """Logits at the last position of prefix+suffix for each row, in one forward pass."""
        b, p = len(suffixes), len(prefix)
        ids, mask, pos = left_pad(suffixes, p, self.pad_token_id)
        if p:
            past1 = self._prefix_past(prefix)
            past = [np.repeat(t, b, axis=0) for t in past1]
            full_mask = np.concatenate([np.ones((b, p), np.int64), mask], axis=1)
        else:
            past, full_mask = None, mask
        logits, _ = self._forward(ids, full_mask, pos, past)
        return logits[:, -1, :]

    def _shared_prefix(self, encoded: list[list[int]]) -> tuple[int, ...]:
        """The prefix whose KV cache this call reuses; none when reuse is switched off."""
        if not self.reuse_prefix or self._pads_lead_only:
            return ()
        return prefix_cache.shared_prefix(encoded, self._prefix_cache)

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Group prompt indices of similar length, bounded by batch size and logits memory."""
        cost = batch_cost(self.options.scoring_head == "last", self._query_heads,
                          self.vocab_size)
        # Scoring leans on the shared prefix, and pads after a prefix are exact for fp32
        # only (engine.models.pad_alignment): quantised scoring batches equal lengths.
        pad_rule = 1 if self.pad_multiple == 1 else None
        return group_by_length(lengths, self.batch_size, pad_rule, cost)

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
        results: list[OptionScores | None] = [None] * len(prompts)
        done = 0
        for members, prefix in self._scoring_parts(encoded):
            t0 = time.perf_counter()
            if prefix:
                self._prefix_past(prefix)
            prefix_ms = (time.perf_counter() - t0) * 1000.0 / len(members)
            for batch in self._batches([len(encoded[i]) for i in members]):
                rows = [members[j] for j in batch]
                t = time.perf_counter()
                last = self._last_logits([encoded[i][len(prefix):] for i in rows], prefix)
                share = (time.perf_counter() - t) * 1000.0 / len(rows)
                logp = log_softmax(last)
                for r, i in enumerate(rows):
                    results[i] = option_scores(logp[r], letters[i], letter_ids[i],
                                               len(encoded[i]), share + prefix_ms)
                done += len(rows)
                emit(progress, "score", f"scored {done}/{len(prompts)}", done=done,
                     total=len(prompts))
        return [r for r in results if r is not None]

    def _scoring_parts(self, encoded: list[list[int]]
                       ) -> list[tuple[list[int], tuple[int, ...]]]:
        """The call's prompts as (indices, the prefix computed once for them): first those
        that share only the call's common prefix, then each subset that shares much more
        (engine.models.prefix_cache.prefix_groups; one item's standard-RAG and max-context
        prompts), each from its own longer prefix."""
        prefix = self._shared_prefix(encoded)
        if not self.reuse_prefix or self._pads_lead_only:
            return [(list(range(len(encoded))), prefix)]
        groups, rest = prefix_cache.prefix_groups(encoded, len(prefix))
        parts = [(rest, prefix)] if rest else []
        for group in groups:   # each group's own common prefix, one token left to each
            parts.append((group, prefix_cache.shared_prefix([encoded[i] for i in group],
                                                            None)))
        return parts

    def next_token_logits(self, prompts: list[str]) -> np.ndarray:
        """Raw logits at the last position of each prompt (float32, [n, vocab]).

        Not part of CandidateModel: only the equality tests (batched vs alone,
        optimised vs exported graph, int8 vs fp32, a copied model) read raw logits.
        """
        encoded = [self.encode(p) for p in prompts]
        out = np.zeros((len(prompts), self.vocab_size), np.float32)
        for batch in self._batches([len(e) for e in encoded]):
            out[batch] = self._last_logits([encoded[i] for i in batch], ())
        return out

    # ------------------------------------------------------------ generation
    def generate(self, prompt: str, settings: GenerationSettings | None = None) -> Generation:
        """Decode with a KV cache: greedy at temperature 0, else seeded top-p sampling."""
        return self.generate_batch([prompt], [settings or GenerationSettings()])[0]

    def generate_batch(self, prompts: Sequence[str],
                       settings: Sequence[GenerationSettings]) -> list[Generation]:
        """Each prompt continued under its own settings, decoded in batches
        (engine.models.batch_decode): prompts of similar length together, at most
        `generation_batch_size` at a time and within the KV-cache budget."""
        if len(prompts) != len(settings):
            raise SafeVetError(f"{len(prompts)} prompts but {len(settings)} settings")
        for s in settings:
            s.check()
        encoded = [self.encode(p) for p in prompts]
        for i, e in enumerate(encoded):
            self._check_fits(len(e), "prompt" if len(prompts) == 1 else f"prompt {i}")
        requests = [self._decode_request(e, s) for e, s in zip(encoded, settings)]
        results: list[Generation | None] = [None] * len(requests)
        for group in self._generation_groups(requests):
            kv = self._device_kv
            gens = decode_together([requests[i] for i in group], self._prefill,
                                   kv.step if kv else self._forward, self.stop_token_ids,
                                   self._detokenize, kv or HOST_CACHE)
            for i, g in zip(group, gens):
                results[i] = g
        return [g for g in results if g is not None]

    def _decode_request(self, ids: list[int], s: GenerationSettings) -> DecodeRequest:
        room = self.context_length - len(ids)
        return DecodeRequest(ids=ids, settings=s, budget=min(s.max_new_tokens, room),
                             out_of_room="length" if s.max_new_tokens <= room else "context")

    def _detokenize(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _generation_groups(self, requests: list[DecodeRequest]) -> list[list[int]]:
        """Indices of requests to decode together, bounded by the KV-cache budget too."""
        prefill = batch_cost(self.options.scoring_head == "last", self._query_heads,
                             self.vocab_size)
        new_tokens = max((r.budget for r in requests), default=0)
        cost = generation_cost(prefill, self._kv_bytes_per_token, new_tokens,
                               kv_cache_budget(self._weight_bytes, self._device_free_bytes))
        # A quantised model pads every prompt to whole lanes from the start, alone or not
        # (_lane_width), so any lengths may share a batch: group only by similar length.
        rule = 1 if self.pad_multiple is not None else None
        return group_by_length([len(r.ids) for r in requests], self.generation_batch_size,
                               rule, cost)

    def _lane_width(self, lengths: list[int]) -> int:
        """The cache width a quantised batch is padded to: its longest prompt rounded up to
        a whole number of lanes. Every prompt, even alone, gets leading pads up to a lane
        boundary, so a prompt's pads differ between any two batches by whole lanes only,
        which keeps its every sum bitwise what it is alone (engine.models.pad_alignment)."""
        m = self.pad_multiple or 1
        return -(-max(lengths) // m) * m

    def _prefill(self, prompts: list[list[int]]
                 ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """Last-position logits, KV cache and attention mask of left-padded prompts, with
        the prefix they share (a system prompt) computed once and reused, as in scoring.

        Pads sit after that prefix, which only fp32 takes exactly. A quantised model's
        prompts are each run alone instead (still after the shared prefix) and their
        caches padded from the very start to a whole number of lanes (_lane_width), where
        pads are bitwise exact for every later step (engine.models.pad_alignment). A model
        with no exact pad multiple batches equal lengths only, unpadded."""
        prefix = self._shared_prefix(prompts)
        p, b = len(prefix), len(prompts)
        shared = self._prefix_past(prefix) if p else None
        if self.pad_multiple not in (1, None):
            return self._prefill_each(prompts, p, shared)
        ids, mask, pos = left_pad([e[p:] for e in prompts], p, self.pad_token_id)
        past = None
        if shared is not None:
            past = [np.repeat(t, b, axis=0) for t in shared]
            mask = np.concatenate([np.ones((b, p), np.int64), mask], axis=1)
        logits, present = self._forward(ids, mask, pos, past)
        return logits[:, -1, :], present, mask

    def _prefill_each(self, prompts: list[list[int]], p: int,
                      shared: list[np.ndarray] | None
                      ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """Each prompt's own forward pass after the shared prefix, stacked with leading
        pads (zeros in the cache, 0 in the mask) up to the lane-rounded longest."""
        width = self._lane_width([len(e) for e in prompts])
        last, caches = [], []
        for e in prompts:
            n = len(e)
            logits, present = self._forward(np.asarray([e[p:]]), np.ones((1, n), np.int64),
                                            np.arange(p, n)[None], shared)
            last.append(logits[0, -1])
            caches.append([np.pad(t, ((0, 0), (0, 0), (width - n, 0), (0, 0)))
                           for t in present])
        mask = np.zeros((len(prompts), width), np.int64)
        for r, e in enumerate(prompts):
            mask[r, width - len(e):] = 1
        past = [np.concatenate(layer, axis=0) for layer in zip(*caches)]
        return np.stack(last), past, mask
