"""Generated tokens/s at batch 1, 8 and 16: SafeVet vs onnxruntime-genai vs transformers (issue 16).

    .venv/bin/python benchmarks/generation_batch.py [--home WS] [--quick] [--no-genai] [--no-torch]

One invocation prints one table. The prompts are the demo's open-ended items
(`assets/suites/demo-open-safety`, 80 items) exactly as a SafeVet `demo` run
renders them (`engine.conditions.build_open_prompt`, closed_book, the demo
profile's RunSettings), decoded greedily with the run's `open_max_new_tokens`
(demo profile: 40), stopping at the end-of-turn token. Every engine gets the same
batches: consecutive prompts, `batch` at a time, as a run hands open items to
`generate_batch` (engine/runs/model_calls.py `generation_batches`):

- SafeVet: `OnnxCandidateModel.generate_batch` on the workspace's
  `smollm2-135m-fp32` and `smollm2-135m-int8`, `generation_batch_size` = 1, 8, 16;
- onnxruntime-genai 0.18.0 (its own venv `.cache/genai-venv`: it pins
  onnxruntime 1.32 and its builder needs transformers 5) on fp32, int8 and int4
  builds of the same HF folder made by its model builder, one `og.Generator` per
  batch, right-padded (see `GenaiEngine`), token ids from the HF tokenizer
  (genai's own tokenizer does not read this GGUF-converted tokenizer.json: it
  encodes to -1 and decodes to "Ġ"/"Ċ" pieces);
- transformers `generate` (torch CPU fp32, the project venv), left-padded, greedy.

The weights are the same everywhere: the HF folder `.cache/bench/hf-<model>` is
converted by SafeVet's `convert_gguf` from the GGUF the workspace model was
imported from (shared with vs_lm_eval.py), and every engine gets SafeVet's token
ids (checked). Figures, per engine and batch size:
  decode-only tok/s  = (completion tokens - one per prompt) / (T_full - T_prefill),
                       T_prefill = the prompts' forward passes, timed inside the run;
  end-to-end tok/s   = completion tokens / T_full (tokenising, prefill, decoding and
                       detokenising; what a run summary counts);
  peak RSS           = VmHWM of the engine's own process while that batch size ran
                       (reset before each batch size; weights included);
plus the ratios SafeVet / genai at the same batch and precision, and greedy text
identity. Completion tokens count the end-of-turn token, as SafeVet's Generation does.
Batch 8 and 16 run all prompts, batch 1 the first 16 (`--b1-items`; 0 = all, about
ten minutes more on two cores).

Each engine is its own process, all loaded at once; the driver hands them the
same 16-prompt block in turn, block after block, so a change in the load of a
shared machine hits every engine alike. A batch size's pass is repeated (up to
--repeats, medians) only while cheap (--cheap-s). The load average is printed at
start and end.

Setup (the only steps that may use the network, and only when missing): the
genai venv (pinned, from the package registry) and the genai builds in
`.cache/bench/genai-<model>-<precision>`. The measurement runs offline
(HF_HUB_OFFLINE etc.; inside `unshare -n` where the machine allows it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "bench"
GENAI_VENV = REPO / ".cache" / "genai-venv"
GENAI_PINS = {"onnxruntime-genai": "0.18.0", "transformers": "5.24.0", "torch": "2.13.0",
              "onnx-ir": "1.1.0"}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1",
               "TOKENIZERS_PARALLELISM": "false"}
SUITE = REPO / "assets" / "suites" / "demo-open-safety"
CONDITION = "closed_book"       # where a run plans open items (the plain chat turn)
GENAI_PAD = 0                   # <|endoftext|>: genai masks its pad id, and 2 (<|im_end|>,
#                                 the model's pad) occurs inside every prompt
BLOCK = 16                      # prompts per turn when the engines take turns


def log(msg: str) -> None:
    print(f"[gen-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return f"load average {loadavg()}"


# ============================================================== memory helpers
def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def chunks(indices: list[int], size: int) -> list[list[int]]:
    """Consecutive prompts, `size` at a time: how a run hands open items to the model
    (engine/runs/model_calls.py `generation_batches`), and the static batches every
    engine here gets."""
    return [indices[i:i + size] for i in range(0, len(indices), size)]


def completion_of(generated: list[int], eos: set[int]) -> tuple[list[int], int, str]:
    """Tokens up to the first end-of-turn token: (text tokens, tokens produced counting
    that end-of-turn token, finish reason)."""
    for k, t in enumerate(generated):
        if t in eos:
            return generated[:k], k + 1, "stop"
    return generated, len(generated), "length"


# ============================================================== engines (in workers)
class Engine:
    """One engine in its own process. `generate(indices, batch, max_new)` decodes those
    prompts in consecutive chunks of `batch` and returns (texts, completion tokens,
    finish reasons, prefill seconds or None when the engine cannot tell)."""

    meta: dict

    def begin(self) -> None:
        """Start of a pass over one batch size: a cold start, like a fresh run."""

    def generate(self, idx: list[int], batch: int, max_new: int):
        raise NotImplementedError


class SafeVetEngine(Engine):
    def __init__(self, spec: dict) -> None:
        sys.path.insert(0, str(REPO))
        from engine.models.generation import GenerationSettings
        from engine.models.registry import load_model
        from engine.workspace import Workspace

        self.Settings = GenerationSettings
        model = self.model = load_model(Workspace.open(spec["home"]), spec["model"])
        if spec.get("render_to"):
            render_prompts(model, spec, Path(spec["render_to"]))
        rows = json.loads(Path(spec["prompts"]).read_text())
        self.texts = [r["text"] for r in rows]
        self.has_batch = hasattr(model, "generate_batch") and hasattr(
            model, "generation_batch_size")
        # The prompts' forward passes (the shared-prefix KV cache included) are timed by
        # wrapping the model's prefill step; without one a max_new_tokens=1 run times them.
        self.prefill_s = 0.0
        inner = getattr(model, "_prefill", None) if self.has_batch else None
        self.timed = inner is not None
        if inner is not None:
            def timed_prefill(*a, **k):
                t = time.perf_counter()
                try:
                    return inner(*a, **k)
                finally:
                    self.prefill_s += time.perf_counter() - t
            model._prefill = timed_prefill
        self.own_latency = 0.0
        info = model.session_info
        self.meta = {
            "engine": f"SafeVet {model.manifest.precision}", "kind": "safevet",
            "precision": model.manifest.precision, "generate_batch": self.has_batch,
            "ids_equal": sum(model.encode(r["text"]) == r["ids"] for r in rows),
            "n": len(rows),
            "setup": f"onnxruntime {info.get('onnxruntime')} {model.execution_provider}, "
                     f"{info.get('intra_op_threads')} threads, attention "
                     f"{info.get('attention')}, " + (
                         f"pad multiple {info['pad_multiple']}" if "pad_multiple" in info
                         else f"pad-free batches {info.get('pad_free_batches')}")}

    def begin(self) -> None:
        if hasattr(self.model, "_prefix_cache"):
            self.model._prefix_cache = None

    def generate(self, idx: list[int], batch: int, max_new: int):
        texts, comp, fin = [], [], []
        self.prefill_s = 0.0
        for chunk in chunks(idx, batch):
            prompts = [self.texts[i] for i in chunk]
            settings = [self.Settings(max_new_tokens=max_new, temperature=0.0)
                        for _ in chunk]
            if self.has_batch:
                self.model.generation_batch_size = batch
                gens = self.model.generate_batch(prompts, settings)
            else:
                gens = [self.model.generate(p, s) for p, s in zip(prompts, settings)]
            self.own_latency += sum(g.latency_ms for g in gens) / 1000.0
            texts += [g.text for g in gens]
            comp += [g.completion_tokens for g in gens]
            fin += [g.finish_reason for g in gens]
        return texts, comp, fin, self.prefill_s if self.timed else None


class TorchEngine(Engine):
    def __init__(self, spec: dict) -> None:
        import torch
        import transformers
        from transformers import (AutoModelForCausalLM, AutoTokenizer, LogitsProcessor,
                                  LogitsProcessorList)

        sys.path.insert(0, str(REPO))
        from engine.models.importer import _quiet_libraries

        _quiet_libraries()
        torch.set_num_threads(spec["threads"])
        self.torch = torch
        hf = spec["hf_dir"]
        self.model = AutoModelForCausalLM.from_pretrained(hf, local_files_only=True,
                                                          dtype=torch.float32).eval()
        self.raw = AutoTokenizer.from_pretrained(hf, local_files_only=True).backend_tokenizer
        rows = json.loads(Path(spec["prompts"]).read_text())
        self.texts = [r["text"] for r in rows]
        self.eos, self.pad = set(spec["eos_ids"]), spec["pad_id"]

        class FirstLogits(LogitsProcessor):
            """Notes when generate() first has logits: the end of its prefill."""

            def __init__(self) -> None:
                self.at: float | None = None

            def __call__(self, input_ids, scores):
                if self.at is None:
                    self.at = time.perf_counter()
                return scores

        self.FirstLogits, self.Processors = FirstLogits, LogitsProcessorList
        self.meta = {
            "engine": "transformers fp32", "kind": "torch", "precision": "fp32",
            "ids_equal": sum(self.raw.encode(r["text"], add_special_tokens=False).ids
                             == r["ids"] for r in rows), "n": len(rows),
            "setup": f"transformers {transformers.__version__}, torch {torch.__version__} "
                     f"CPU, {torch.get_num_threads()} threads, left padding, "
                     f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}"}

    def generate(self, idx: list[int], batch: int, max_new: int):
        torch = self.torch
        texts, comp, fin = [], [], []
        prefill = 0.0
        for chunk in chunks(idx, batch):
            enc = [self.raw.encode(self.texts[i], add_special_tokens=False).ids
                   for i in chunk]
            width = max(map(len, enc))
            ids = torch.full((len(enc), width), self.pad, dtype=torch.long)
            mask = torch.zeros((len(enc), width), dtype=torch.long)
            for r, x in enumerate(enc):
                ids[r, width - len(x):] = torch.tensor(x)
                mask[r, width - len(x):] = 1
            clock = self.FirstLogits()
            t = time.perf_counter()
            with torch.inference_mode():
                out = self.model.generate(ids, attention_mask=mask, do_sample=False,
                                          max_new_tokens=max_new,
                                          eos_token_id=sorted(self.eos), pad_token_id=self.pad,
                                          logits_processor=self.Processors([clock]))
            prefill += (clock.at or time.perf_counter()) - t
            for r in range(len(chunk)):
                toks, k, f = completion_of(out[r, width:].tolist(), self.eos)
                texts.append(self.raw.decode(toks, skip_special_tokens=True))
                comp.append(k)
                fin.append(f)
        return texts, comp, fin, prefill


class GenaiEngine(Engine):
    def __init__(self, spec: dict) -> None:
        import numpy as np
        import onnxruntime
        import onnxruntime_genai as og
        from tokenizers import Tokenizer

        self.np, self.og = np, og
        self.tok = Tokenizer.from_file(str(Path(spec["hf_dir"]) / "tokenizer.json"))
        config = og.Config(spec["genai_dir"])
        # genai derives the attention mask from its pad id; the model's pad (2, <|im_end|>)
        # occurs inside every chat prompt, so pad with <|endoftext|> (in no prompt) instead
        config.overlay(json.dumps({"model": {"pad_token_id": GENAI_PAD, "decoder": {
            "session_options": {"intra_op_num_threads": spec["threads"]}}}}))
        self.model = og.Model(config)
        rows = json.loads(Path(spec["prompts"]).read_text())
        if any(GENAI_PAD in r["ids"] for r in rows):
            raise SystemExit(f"a prompt holds token {GENAI_PAD}, genai's pad here")
        self.texts = [r["text"] for r in rows]
        self.eos = set(spec["eos_ids"])
        gtok = og.Tokenizer(self.model)   # genai's own tokenizer, for the record only
        self.meta = {
            "engine": f"genai {spec['precision']}", "kind": "genai",
            "precision": spec["precision"], "n": len(rows),
            "ids_equal": sum(self.tok.encode(r["text"], add_special_tokens=False).ids
                             == r["ids"] for r in rows),
            "genai_tokenizer": {
                "encode_equal": sum([int(x) for x in gtok.encode(r["text"])] == r["ids"]
                                    for r in rows),
                "decode_equal": sum(gtok.decode(np.asarray(r["ids"], np.int32))
                                    == self.tok.decode(r["ids"]) for r in rows)},
            "setup": f"onnxruntime-genai {og.__version__} (onnxruntime "
                     f"{onnxruntime.__version__}), {spec['threads']} threads, right padding, "
                     f"pad id {GENAI_PAD}"}

    def generate(self, idx: list[int], batch: int, max_new: int):
        np, og = self.np, self.og
        texts, comp, fin = [], [], []
        prefill = 0.0
        for chunk in chunks(idx, batch):
            enc = [self.tok.encode(self.texts[i], add_special_tokens=False).ids for i in chunk]
            width = max(map(len, enc))
            # right padding: with left padding genai 0.18's CPU model continues padded rows
            # differently from alone; right-padded rows continue as alone
            arr = np.full((len(enc), width), GENAI_PAD, dtype=np.int32)
            for r, x in enumerate(enc):
                arr[r, :len(x)] = x
            params = og.GeneratorParams(self.model)
            params.set_search_options(max_length=width + max_new, batch_size=len(enc),
                                      do_sample=False)
            gen = og.Generator(self.model, params)
            t = time.perf_counter()
            gen.append_tokens(arr)          # the prompts' forward pass (the first
            prefill += time.perf_counter() - t  # generate_next_token only picks: checked)
            while not gen.is_done():
                gen.generate_next_token()
            for r in range(len(chunk)):
                seq = [int(x) for x in gen.get_sequence(r)]
                toks, k, f = completion_of(seq[width:], self.eos)
                if f == "length" and k < max_new:
                    # alone, genai ends the sequence at the end-of-turn token without
                    # storing it (in a batch it stores it): it was produced, count it
                    k, f = k + 1, "stop"
                texts.append(self.tok.decode(toks, skip_special_tokens=True))
                comp.append(k)
                fin.append(f)
            del gen
        return texts, comp, fin, prefill


def render_prompts(model, spec: dict, out: Path) -> None:
    """The demo's open prompts as a `demo` run renders them (engine/runs/model_calls.py:
    build_open_prompt under closed_book, no corpus needed)."""
    from engine.conditions import build_open_prompt
    from engine.runs.profiles import get_profile
    from engine.suites.io import load_suite
    from engine.suites.schema import OpenItem

    settings = get_profile(spec["profile"]).settings
    suite = load_suite(SUITE)
    items = [i for i in suite.items if isinstance(i, OpenItem) and not i.retired]
    rows = []
    for item in items[:spec.get("items")]:
        plan = build_open_prompt(CONDITION, item, model, None, settings)
        rows.append({"id": item.id, "text": plan.prompt_text,
                     "ids": model.encode(plan.prompt_text)})
    out.write_text(json.dumps({"rows": rows, "open_max_new_tokens":
                               settings.open_max_new_tokens, "suite": suite.id,
                               "suite_version": suite.version}))
    Path(spec["prompts"]).write_text(json.dumps(rows))


REPLY = "@@generation_batch "   # marks the worker's replies on stdout (libraries may print)


def serve(spec_path: Path) -> None:
    """Worker: load one engine, then answer the driver's commands (JSON lines on stdin)."""
    spec = json.loads(spec_path.read_text())
    kind = spec["kind"]
    engine: Engine = (SafeVetEngine(spec) if kind == "safevet" else
                      TorchEngine(spec) if kind == "torch" else GenaiEngine(spec))
    engine.generate([0, 1], 2, 2)   # warm-up, untimed

    def reply(obj: dict) -> None:
        sys.stdout.write(REPLY + json.dumps(obj) + "\n")
        sys.stdout.flush()

    reply({"ready": engine.meta})
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            return
        if cmd["cmd"] == "begin":
            engine.begin()
            if cmd.get("reset_rss"):
                reset_peak_rss()
            reply({"ok": True})
            continue
        idx = list(range(cmd["start"], cmd["stop"]))
        own0 = getattr(engine, "own_latency", 0.0)
        t = time.perf_counter()
        texts, comp, fin, prefill = engine.generate(idx, cmd["batch"], cmd["max_new"])
        wall = time.perf_counter() - t
        how = "in-run"
        if prefill is None:    # no hook: time the same calls with max_new_tokens=1
            how = "max_new_tokens=1 run"
            t = time.perf_counter()
            engine.generate(idx, cmd["batch"], 1)
            prefill = time.perf_counter() - t
        reply({"texts": texts, "comp": comp, "finish": fin, "wall": wall,
               "prefill": prefill, "how": how, "rss": peak_rss_mb(),
               "own_latency": getattr(engine, "own_latency", 0.0) - own0})


class Worker:
    """The driver's handle on one engine process."""

    def __init__(self, args, label: str, spec: dict, python: Path | str,
                 env: dict | None = None) -> None:
        self.label = label
        spec_path = args.work / f"spec-{label}.json"
        spec_path.write_text(json.dumps(spec))
        cmd = [str(python), str(Path(__file__).resolve()), "--_serve", str(spec_path)]
        if args.unshare:
            cmd = ["unshare", "-n", *cmd]
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=str(REPO), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     env=dict(os.environ, **OFFLINE_ENV, **(env or {})))
        self.meta: dict | None = None
        self.busy_s = 0.0
        self.results: dict = {}

    def read(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY):])
        raise RuntimeError(f"{self.label} exited (code {self.proc.wait()})")

    def ready(self) -> dict:
        if self.meta is None:
            self.meta = self.read()["ready"]
            log(f"{self.label} ready in {time.perf_counter() - self.t0:.0f} s "
                f"(load {loadavg()})")
        return self.meta

    def ask(self, **cmd) -> dict:
        assert self.proc.stdin is not None
        t = time.perf_counter()
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        got = self.read()
        self.busy_s += time.perf_counter() - t
        return got

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def measure(args, workers: list[Worker], batches: list[int], n: int, max_new: int) -> None:
    """Every batch size, block by block (16 prompts, or one batch if larger), each block
    by every engine in turn, so a change in the machine's load hits all engines alike.
    A batch size's pass over all engines is repeated (up to --repeats) while the passes
    so far took under --cheap-s; figures are medians over passes."""
    for b in batches:
        n_b = n if b != 1 or not args.b1_items else min(n, args.b1_items)
        block = max(BLOCK, b)
        blocks = [(i, min(i + block, n_b)) for i in range(0, n_b, block)]
        spent: list[float] = []
        for rep in range(args.repeats):
            t_pass = time.perf_counter()
            for w in workers:
                w.ask(cmd="begin", reset_rss=rep == 0)
            acc = {w.label: {"wall": 0.0, "prefill": 0.0, "texts": [], "comp": [],
                             "finish": [], "rss": 0.0, "own": 0.0, "how": "in-run"}
                   for w in workers}
            for i, j in blocks:
                for w in workers:
                    got = w.ask(cmd="run", batch=b, start=i, stop=j, max_new=max_new)
                    a = acc[w.label]
                    a["wall"] += got["wall"]
                    a["prefill"] += got["prefill"]
                    a["texts"] += got["texts"]
                    a["comp"] += got["comp"]
                    a["finish"] += got["finish"]
                    a["rss"] = max(a["rss"], got["rss"])
                    a["own"] += got["own_latency"]
                    a["how"] = got["how"]
            for w in workers:
                a = acc[w.label]
                d = w.results.setdefault(str(b), {
                    "prefill_s": [], "full_s": [], "texts": a["texts"],
                    "completion_tokens": a["comp"], "finish": a["finish"],
                    "peak_rss_mb": a["rss"], "prefill_how": a["how"], "own_latency_s": 0.0,
                    "loadavg": []})
                d["prefill_s"].append(a["prefill"])
                d["full_s"].append(a["wall"])
                d["own_latency_s"] = a["own"]
                d["loadavg"].append(loadavg())
                if a["texts"] != d["texts"]:
                    d.setdefault("repeat_text_changes", 0)
                    d["repeat_text_changes"] += 1
            spent.append(time.perf_counter() - t_pass)
            log(f"batch {b}: pass {rep + 1} over {n_b} prompts in {spent[-1]:.0f} s -- "
                + ", ".join(f"{w.label} {acc[w.label]['wall']:.1f} s" for w in workers)
                + f" (load {loadavg()})")
            if sum(spent) + spent[-1] > args.cheap_s:
                break


# ============================================================== setup (may use the network)
def genai_python() -> Path:
    return GENAI_VENV / "bin" / "python"


def ensure_genai_venv() -> None:
    """onnxruntime-genai's own venv, pinned; never the project's .venv."""
    py = genai_python()
    want = " ".join(GENAI_PINS[k] for k in ("onnxruntime-genai", "transformers", "torch"))
    probe = ("import onnxruntime_genai as og, transformers, torch, onnx_ir;"
             "print(og.__version__, transformers.__version__, torch.__version__.split('+')[0])")
    if py.is_file():
        got = subprocess.run([str(py), "-c", probe], capture_output=True, text=True)
        if got.returncode == 0 and got.stdout.strip() == want:
            return
        log(f"{GENAI_VENV} is not {want}: ({got.stdout.strip() or got.stderr[-300:]})")
    log(f"creating {GENAI_VENV} ({', '.join(f'{k}=={v}' for k, v in GENAI_PINS.items())})")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(GENAI_VENV)], check=True)
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + [f"torch=={GENAI_PINS['torch']}"], check=True)  # the CPU build first
    subprocess.run(pip + [f"{k}=={v}" for k, v in GENAI_PINS.items()], check=True)
    got = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, check=True)
    if got.stdout.strip() != want:
        raise SystemExit(f"genai venv resolved to {got.stdout.strip()}, wanted {want}")


def ensure_genai_model(hf_dir: Path, model: str, precision: str) -> Path:
    """The genai builder's export of the HF folder, once per source and precision."""
    out = CACHE / f"genai-{model}-{precision}"
    stamp_text = (f"{(hf_dir / '.source_sha256').read_text().strip()} "
                  f"onnxruntime-genai {GENAI_PINS['onnxruntime-genai']} -p {precision} -e cpu")
    stamp = out / ".stamp"
    if stamp.is_file() and stamp.read_text() == stamp_text:
        return out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"building {out.name} with onnxruntime_genai.models.builder -p {precision}")
    t = time.perf_counter()
    subprocess.run([str(genai_python()), "-m", "onnxruntime_genai.models.builder", "-i",
                    str(hf_dir), "-o", str(tmp), "-p", precision, "-e", "cpu", "-c",
                    str(CACHE / "genai-hf-cache")],
                   check=True, env=dict(os.environ, **OFFLINE_ENV), capture_output=True)
    log(f"  built in {time.perf_counter() - t:.0f} s")
    stamp_tmp = tmp / ".stamp"
    stamp_tmp.write_text(stamp_text)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out




# ============================================================== driver
def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--_serve":
        serve(Path(sys.argv[2]))
        return

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, default=Path(os.environ.get(
        "SAFEVET_HOME", REPO / ".cache" / "default-workspace")),
        help="SafeVet workspace holding the default models (read only)")
    ap.add_argument("--fp32", default="smollm2-135m-fp32", help="SafeVet fp32 model")
    ap.add_argument("--int8", default="smollm2-135m-int8", help="SafeVet int8 model")
    ap.add_argument("--profile", default="demo", help="run profile whose settings render the "
                    "prompts and give open_max_new_tokens (demo: 40)")
    ap.add_argument("--max-new-tokens", type=int, default=None,
                    help="override the profile's open_max_new_tokens")
    ap.add_argument("--batches", default="1,8,16")
    ap.add_argument("--items", type=int, default=None, help="first N open items (default all)")
    ap.add_argument("--b1-items", type=int, default=16,
                    help="batch 1 on the first N prompts only, for every engine (batch 1 "
                         "over all 80 adds ~10 min on 2 cores); 0 = all")
    ap.add_argument("--repeats", type=int, default=3,
                    help="at most this many passes per batch size")
    ap.add_argument("--cheap-s", type=float, default=120.0,
                    help="repeat a batch size's pass (all engines) only while its passes so "
                         "far took less than this many seconds")
    ap.add_argument("--genai-precisions", default="fp32,int8,int4")
    ap.add_argument("--quick", action="store_true",
                    help="smoke: 16 items, 8 new tokens, one pass each")
    ap.add_argument("--no-genai", action="store_true", help="skip onnxruntime-genai (and its venv)")
    ap.add_argument("--no-torch", action="store_true", help="skip transformers")
    ap.add_argument("--no-unshare", action="store_true",
                    help="measure in this network namespace (offline env flags only)")
    ap.add_argument("--print-last", action="store_true",
                    help="print the last run's table again (no measuring)")
    args = ap.parse_args()
    if args.print_last:
        print_last()
        return
    if args.quick:
        args.items = args.items or 16
        args.max_new_tokens = args.max_new_tokens or 8
        args.repeats = 1
        args.b1_items = 0
    batches = [int(b) for b in args.batches.split(",")]
    start_uptime = uptime()
    print(f"start: {start_uptime}", flush=True)
    args.work = CACHE / "generation"
    args.work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from engine.models.providers import physical_cores
    from engine.models.registry import get_manifest
    from engine.runs.profiles import get_profile
    from engine.workspace import Workspace
    from vs_lm_eval import ensure_hf_folder

    home = args.home.resolve()
    hf_dir = ensure_hf_folder(home, args.fp32, CACHE, None)
    manifest = get_manifest(Workspace.open(home), args.fp32)
    st = manifest.special_tokens
    eos_ids = list(st.stop_token_ids or [st.eos_token_id])
    max_new = args.max_new_tokens or get_profile(args.profile).settings.open_max_new_tokens
    genai_dirs: dict[str, Path] = {}
    if not args.no_genai:
        ensure_genai_venv()
        for p in args.genai_precisions.split(","):
            genai_dirs[p] = ensure_genai_model(hf_dir, args.fp32, p)
    args.unshare = (not args.no_unshare and shutil.which("unshare") is not None and
                    subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0)

    prompts = args.work / "prompts.json"
    rendered = args.work / "rendered.json"
    base = {"home": str(home), "prompts": str(prompts), "threads": physical_cores(),
            "hf_dir": str(hf_dir), "eos_ids": eos_ids, "pad_id": st.pad_token_id,
            "profile": args.profile, "items": args.items}
    # One process per engine, all alive at once and driven in turn. fp32 engines first,
    # then the quantised ones; SafeVet fp32 renders the prompts, so it starts first.
    plan: list[tuple[str, dict, Path | str]] = [
        ("safevet-fp32", dict(base, kind="safevet", model=args.fp32,
                              render_to=str(rendered)), sys.executable)]
    if "fp32" in genai_dirs:
        plan.append(("genai-fp32", dict(base, kind="genai", precision="fp32",
                                        genai_dir=str(genai_dirs["fp32"])), genai_python()))
    if not args.no_torch:
        plan.append(("torch-fp32", dict(base, kind="torch"), sys.executable))
    plan.append(("safevet-int8", dict(base, kind="safevet", model=args.int8), sys.executable))
    for p in ("int8", "int4"):
        if p in genai_dirs:
            plan.append((f"genai-{p}", dict(base, kind="genai", precision=p,
                                            genai_dir=str(genai_dirs[p])), genai_python()))
    workers: list[Worker] = []
    try:
        for k, (label, spec, py) in enumerate(plan):
            # torch's OpenMP threads spin-wait by default, which on a shared machine cost it
            # ~3x; SafeVet's session does not spin (allow_spinning 0): the same for torch
            env = {"OMP_WAIT_POLICY": "PASSIVE"} if spec["kind"] == "torch" else None
            workers.append(Worker(args, label, spec, py, env))
            if k == 0:
                workers[0].ready()      # the prompts exist from here on
        for w in workers:
            w.ready()
        n = len(json.loads(prompts.read_text()))
        log(f"all engines loaded; {n} prompts, batches {batches} (load {loadavg()})")
        measure(args, workers, batches, n, max_new)
    finally:
        for w in workers:
            w.close()
    results = []
    for w in workers:
        results.append(dict(w.meta or {}, label=w.label, batches=w.results,
                            wall_s=w.busy_s))
    meta = json.loads(rendered.read_text())
    end_uptime = uptime()
    (args.work / "last_results.json").write_text(json.dumps({
        "results": results, "meta": meta, "max_new": max_new,
        "uptime": [start_uptime, end_uptime], "hf_dir": str(hf_dir),
        "profile": args.profile, "fp32": args.fp32, "unshare": args.unshare}))
    table = format_table(args, results, meta, max_new, start_uptime, end_uptime, hf_dir)
    print(table)
    (args.work / "last_table.txt").write_text(table + "\n")


def print_last() -> None:
    """The table again from .cache/bench/generation/last_results.json (no measuring)."""
    saved = json.loads((CACHE / "generation" / "last_results.json").read_text())
    args = argparse.Namespace(profile=saved["profile"], fp32=saved["fp32"],
                              unshare=saved["unshare"])
    print(format_table(args, saved["results"], saved["meta"], saved["max_new"],
                       *saved["uptime"], Path(saved["hf_dir"])))


# ============================================================== table
def med(xs: list[float]) -> float:
    return statistics.median(xs)


def figures(r: dict, b: str) -> dict | None:
    d = r["batches"].get(b)
    if d is None:
        return None
    comp = sum(d["completion_tokens"])
    full, pre = med(d["full_s"]), med(d["prefill_s"])
    decode_tokens = comp - sum(1 for c in d["completion_tokens"] if c > 0)
    dec = decode_tokens / (full - pre) if full > pre else float("nan")
    return {"e2e": comp / full, "decode": dec, "rss": d["peak_rss_mb"], "tokens": comp,
            "n": len(d["completion_tokens"]), "full": full, "prefill": pre,
            "runs": len(d["full_s"]), "how": d.get("prefill_how", "in-run")}


def format_table(args, results: list[dict], meta: dict, max_new: int, up0: str, up1: str,
                 hf_dir: Path) -> str:
    batches = [str(b) for b in sorted({int(b) for r in results for b in r["batches"]})]
    rows = meta["rows"]
    n = len(rows)
    ptoks = [len(r["ids"]) for r in rows]
    out: list[str] = []
    w = out.append
    w("")
    w(f"Generation throughput -- {meta['suite']} {meta['suite_version']}: {n} open prompts "
      f"rendered by build_open_prompt({CONDITION}, profile {args.profile}), "
      f"{min(ptoks)}..{max(ptoks)} tokens (mean {sum(ptoks) / n:.1f}); greedy, "
      f"max_new_tokens {max_new}, stop at end of turn; weights {args.fp32} "
      f"(HF folder {hf_dir.name})")
    w(f"machine: {os.cpu_count()} logical CPUs; start: {up0}")
    w(f"                       end:   {up1}")
    for r in results:
        extra = ""
        if r["kind"] == "genai":
            g = r["genai_tokenizer"]
            extra = (f"; genai's own tokenizer: encode equal {g['encode_equal']}/{r['n']}, "
                     f"decode equal {g['decode_equal']}/{r['n']} (not used)")
        if r["kind"] == "safevet" and not r.get("generate_batch", True):
            extra = "; NO generate_batch: batch 1 by generate() only"
        w(f"  {r['engine']:<18} {r['setup']}; token ids equal to SafeVet's "
          f"{r['ids_equal']}/{r['n']}{extra}; {r['wall_s']:.0f} s in calls")
    w("")
    w("decode = decode-only tok/s = (completion tokens - 1 per prompt) / (T_full - T_prefill); "
      "e2e = end-to-end tok/s = completion tokens / T_full;")
    w("pre s = T_prefill (the prompts' forward passes, timed inside the run); RSS = peak RSS "
      "MB of the engine's own process at that batch size;")
    w("tok = completion tokens (end-of-turn counted); n = prompts; runs = passes (median "
      "shown; repeated only while cheap). Engines interleaved block by block (16 prompts)")
    cell_w = 42
    hdr = f"{'engine':<18}" + "".join(
        f"| {'b' + b:<4}{'decode':>7}{'e2e':>7}{'pre s':>6}{'RSS':>6}{'tok':>5}{'n':>3}"
        f"{'runs':>5} " for b in batches)
    w(hdr)
    w("-" * len(hdr))
    for r in results:
        line = f"{r['engine']:<18}"
        for b in batches:
            f = figures(r, b)
            if f is None:
                line += "| " + "n/a".center(cell_w - 3) + " "
                continue
            mark = "" if f["how"] == "in-run" else "*"
            line += (f"| {'':<4}{f['decode']:>7.1f}{f['e2e']:>7.1f}{f['prefill']:>5.1f}"
                     f"{mark or ' '}{f['rss']:>6.0f}{f['tokens']:>5}{f['n']:>3}{f['runs']:>5} ")
        w(line)
    if any(figures(r, b) and figures(r, b)["how"] != "in-run" for r in results for b in batches):
        w("  * prefill timed by a separate max_new_tokens=1 run")
    w("")
    # (d) ratios
    by = {r["label"]: r for r in results}
    pairs = [("SafeVet fp32 / genai fp32", "safevet-fp32", "genai-fp32", ""),
             ("SafeVet int8 / genai int8", "safevet-int8", "genai-int8", ""),
             ("SafeVet int8 / genai int4", "safevet-int8", "genai-int4",
              "  (not the same precision)"),
             ("SafeVet fp32 / transformers fp32", "safevet-fp32", "torch-fp32", "")]
    pairs = [x for x in pairs if x[1] in by and x[2] in by]
    if pairs:
        w("ratios at the same batch size, decode-only and end-to-end (>1: SafeVet faster)")
    for name, a, c, note in pairs:
        cells = []
        for b in batches:
            fa, fc = figures(by[a], b), figures(by[c], b)
            if fa is None or fc is None:
                cells.append(f"b{b} n/a")
                continue
            cells.append(f"b{b} decode {fa['decode'] / fc['decode']:.2f}x "
                         f"e2e {fa['e2e'] / fc['e2e']:.2f}x")
        w(f"  {name:<33} " + "; ".join(cells) + note)
    w("")
    # (e) text identity
    torch_r = by.get("torch-fp32")
    ref, ref_name = None, ""
    if torch_r is not None:   # transformers' reference: its smallest batch over all prompts
        full_b = [b for b in batches if b in torch_r["batches"]
                  and len(torch_r["batches"][b]["texts"]) == n]
        if full_b:
            ref_name = f"transformers b{full_b[0]}"
            ref = torch_r["batches"][full_b[0]]["texts"]
    others = [b for b in batches if b != "1"]
    w("greedy text identity, identical texts / prompts compared"
      + (f" (batch 1 ran the first {len(by['safevet-fp32']['batches']['1']['texts'])} prompts)"
         if "1" in by["safevet-fp32"]["batches"]
         and len(by["safevet-fp32"]["batches"]["1"]["texts"]) < n else ""))
    if ref is not None:
        w(f"  (bX=bY: engine's own batch X vs its batch Y; bX=tf: vs {ref_name}, all prompts)")
    cols = ([f"b{b}=b1" for b in others]
            + [f"b{b}=b{others[0]}" for b in others[1:]]
            + ([f"b{b}=tf" for b in batches] if ref is not None else []))
    cw = max(len(c) for c in cols) + 2 if cols else 0
    w(f"  {'engine':<18}" + "".join(f"{c:>{cw}}" for c in cols))
    for r in results:
        bs = r["batches"]
        cells = []
        for b in others:
            cells.append(same(bs[b]["texts"], bs["1"]["texts"]) if b in bs and "1" in bs
                         else "")
        for b in others[1:]:
            cells.append(same(bs[b]["texts"], bs[others[0]]["texts"])
                         if b in bs and others[0] in bs else "")
        if ref is not None:
            for b in batches:
                is_ref = r is torch_r and b in bs and bs[b]["texts"] is ref
                cells.append("(ref)" if is_ref else
                             same(bs[b]["texts"], ref) if b in bs else "")
        w(f"  {r['engine']:<18}" + "".join(f"{c:>{cw}}" for c in cells))
    for r in results:
        if r["kind"] != "safevet":
            continue
        bs = r["batches"]
        for b in others:
            if b not in bs:
                continue
            if "1" in bs:
                for x in first_differences(bs[b]["texts"], bs["1"]["texts"], rows)[:2]:
                    w(f"    {r['engine']} b{b} vs b1: {x}")
            if b != others[0] and others[0] in bs:
                for x in first_differences(bs[b]["texts"], bs[others[0]]["texts"], rows)[:2]:
                    w(f"    {r['engine']} b{b} vs b{others[0]}: {x}")
            if ref is not None and r["precision"] == "fp32":
                for x in first_differences(bs[b]["texts"], ref, rows)[:2]:
                    w(f"    {r['engine']} b{b} vs {ref_name}: {x}")
    w("")
    for r in results:
        if r["kind"] != "safevet":
            continue
        cells = []
        for b in batches:
            d = r["batches"].get(b)
            if d is not None:
                cells.append(f"b{b} {d['own_latency_s']:.1f} s / wall {d['full_s'][-1]:.1f} s")
        w(f"  {r['engine']}: sum of Generation.latency_ms (what a run summary adds) vs "
          f"wall, last full run: " + "; ".join(cells))
    fin = []
    for r in results:
        for b in batches:
            d = r["batches"].get(b)
            if d and len(d["finish"]) == n:
                fin.append(f"{r['engine']} {sum(f == 'stop' for f in d['finish'])}")
                break
    w(f"  prompts that stopped at end of turn before {max_new} tokens: " + ", ".join(fin))
    w("  offline: HF_HUB_OFFLINE=TRANSFORMERS_OFFLINE=1" +
      ("; workers inside unshare -n" if args.unshare else "; NOT under unshare -n"))
    return "\n".join(out)


def same(a: list[str], b: list[str]) -> str:
    """Identical texts / texts compared (the shorter list: batch 1 may cover fewer prompts)."""
    return f"{sum(x == y for x, y in zip(a, b))}/{min(len(a), len(b))}"


def first_differences(a: list[str], b: list[str], rows: list[dict]) -> list[str]:
    out = []
    for x, y, r in zip(a, b, rows):
        if x == y:
            continue
        k = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
        out.append(f"{r['id']} char {k}: {x[max(0, k - 20):k + 25]!r} | "
                   f"{y[max(0, k - 20):k + 25]!r}")
    return out


if __name__ == "__main__":
    main()
