"""Realistic-size evidence on a small machine (issue 17 part 6): a ~1.5B random Llama end to end.

Builds a random-weight Llama-family model from a config (benchmarks/random_llama.py:
bf16 safetensors written tensor by tensor, no download, no torch), imports it with the
direct exporter (fp32, weights in model.onnx_data), derives int4 through the existing
quantize path (which streams an external-data graph one MatMul at a time), then for
each precision runs 20 MCQ scorings and 20 generations (16 new tokens) with the real
runtime (`load_model`, default graph edits). Every step runs in its own process and
reports its own peak RSS (VmHWM); the parent prints wall time and peak RSS per step,
checks run-time peak RSS < 1.3 x weight bytes + KV cache, and the int4-vs-fp32 agreement
on option probabilities (same answer share, max |dp|).

KV cache in that bound: what the runtime may hold at once, counted twice (onnxruntime
holds the past fed in and the present coming out): 2 x bytes/token x rows x tokens, for
the largest batch a step forms (scoring: batch_size rows of the longest prompt;
generation: generation_batch_size rows of the longest prompt + 16).

Memory safety on a shared machine: before a step that needs more than 4 GB, it waits
(polling every 60 s, up to 20 min) until MemAvailable >= need + 6 GB.

    .venv/bin/python benchmarks/big_model.py [--work /tmp/bigmodel] [--keep]
        [--hidden 2048 --layers 23 ...]   (sizes as benchmarks/random_llama.py)

Takes ~15-25 min on 2 cores (fp32 scoring and generation dominate): not in `make bench`.
Disk: ~3 GB bf16 source + ~6.4 GB fp32 + ~1.7 GB int4 under --work, deleted at the end
unless --keep.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

N_ITEMS = 20
NEW_TOKENS = 16
RSS_FACTOR = 1.3


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def wait_for_memory(need_gb: float, margin_gb: float = 6.0, limit_s: int = 1200) -> None:
    if need_gb <= 4:
        return
    start = time.monotonic()
    while _available_gb() < need_gb + margin_gb:
        if time.monotonic() - start > limit_s:
            sys.exit(f"gave up: {_available_gb():.1f} GB available after {limit_s} s, "
                     f"need {need_gb + margin_gb:.1f}")
        print(f"  waiting: {_available_gb():.1f} GB available, want {need_gb + margin_gb:.1f}",
              flush=True)
        time.sleep(60)


# ------------------------------------------------------------------ children
def child_make(work: str, spec_json: str) -> dict:
    from benchmarks.random_llama import RandomLlama, write
    spec = RandomLlama(**json.loads(spec_json))
    write(Path(work) / "hf", spec)
    return {"parameters": spec.parameters()}


def child_export(work: str) -> dict:
    from engine.models.importer import import_model
    from engine.workspace import Workspace
    m = import_model(Workspace.open(Path(work) / "ws"), Path(work) / "hf", "big-fp32",
                     exporter="direct")
    return {"files": {k: (Path(work) / "ws" / "models" / "big-fp32" / k).stat().st_size
                      for k in m.files}}


def child_int4(work: str) -> dict:
    from engine.models.importer import derive_quantized
    from engine.workspace import Workspace
    m = derive_quantized(Workspace.open(Path(work) / "ws"), "big-fp32", "big-int4", "int4")
    return {"quantized_nodes": m.quantization["quantized_nodes"]}


def _prompts(model, answer: bool) -> tuple[list[str], list[list[str]]]:
    from benchmarks.model_throughput import chat_messages, questions
    items = questions(N_ITEMS)
    return ([model.render_chat(chat_messages(q, False)) + ("Answer:" if answer else "")
             for q, _ in items], [ls for _, ls in items])


def _weights(model) -> int:
    return sum((model.folder / rel).stat().st_size for rel in model.manifest.files
               if rel.startswith("model.onnx"))


def child_score(work: str, name: str) -> dict:
    from engine.models.registry import load_model
    from engine.workspace import Workspace
    t = time.perf_counter()
    model = load_model(Workspace.open(Path(work) / "ws"), name)
    load_s = time.perf_counter() - t
    prompts, letters = _prompts(model, answer=True)
    t = time.perf_counter()
    scores = model.score_options(prompts, letters)
    longest = max(s.prompt_tokens for s in scores)
    kv = 2 * model._kv_bytes_per_token * model.batch_size * longest
    return {"load_s": load_s, "seconds": time.perf_counter() - t,
            "probs": [s.probs for s in scores], "choices": [s.choice for s in scores],
            "weights": _weights(model), "kv": kv, "attention": model.session_info["attention"],
            "head": model.session_info["scoring_head"]}


def child_generate(work: str, name: str) -> dict:
    from engine.models.generation import GenerationSettings
    from engine.models.registry import load_model
    from engine.workspace import Workspace
    model = load_model(Workspace.open(Path(work) / "ws"), name)
    model.stop_token_ids = set()      # a random model may end its turn at once: decode it all
    prompts, _ = _prompts(model, answer=False)
    t = time.perf_counter()
    gens = model.generate_batch(prompts, [GenerationSettings(max_new_tokens=NEW_TOKENS)
                                          for _ in prompts])
    seconds = time.perf_counter() - t
    longest = max(model.count_tokens(p) for p in prompts)
    rows = min(len(prompts), model.generation_batch_size)
    kv = 2 * model._kv_bytes_per_token * rows * (longest + NEW_TOKENS)
    tokens = sum(g.completion_tokens for g in gens)
    return {"seconds": seconds, "tokens": tokens, "tok_s": tokens / seconds,
            "weights": _weights(model), "kv": kv}


def child_baseline() -> dict:
    """The runtime's own footprint with no model: what any peak RSS above starts from."""
    import onnxruntime  # noqa: F401
    import tokenizers  # noqa: F401

    import engine.models.registry  # noqa: F401
    return {}


CHILDREN = {"baseline": child_baseline, "make": child_make, "export": child_export, "int4": child_int4,
            "score": child_score, "generate": child_generate}


def run_step(label: str, *args: str) -> dict:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", *args], cwd="/",
                          capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"step {label} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    print(f"{label:<16} {wall:8.1f} s   peak RSS {out['peak_rss_mib']:8.0f} MiB   "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    return out


def main() -> None:
    from benchmarks.random_llama import RandomLlama
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bigmodel"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    for field, value in RandomLlama().__dict__.items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args()
    if args.child:
        result = CHILDREN[args.child[0]](*args.child[1:])
        result["peak_rss_mib"] = _status_kib("VmHWM") / 1024
        print(json.dumps(result))
        return
    spec = RandomLlama(**{k: getattr(args, k) for k in RandomLlama().__dict__})
    work = args.work
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    fp32_gb = spec.parameters() * 4 / 1e9
    print(f"random Llama: {spec.parameters():,} parameters (hidden {spec.hidden}, "
          f"{spec.layers} layers, {spec.heads}/{spec.kv_heads} heads, vocab {spec.vocab}); "
          f"load {os.getloadavg()[0]:.2f}; {_available_gb():.1f} GB available")
    t0 = time.perf_counter()
    try:
        steps = {"baseline": run_step("bare runtime", "baseline"),
                 "make": run_step("make (bf16)", "make", str(work),
                                  json.dumps(spec.__dict__))}
        wait_for_memory(2.0)
        steps["export"] = run_step("export fp32", "export", str(work))
        steps["int4"] = run_step("int4 (stream)", "int4", str(work))
        for name, need in (("big-fp32", fp32_gb * RSS_FACTOR + 1),
                           ("big-int4", fp32_gb / 3 + 1)):
            wait_for_memory(need)
            steps[f"score {name}"] = run_step(f"score {name[4:]}", "score", str(work), name)
            wait_for_memory(need)
            steps[f"gen {name}"] = run_step(f"generate {name[4:]}", "generate", str(work), name)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - t0
    data = steps["export"]["files"].get("model.onnx_data", 0)
    print(f"\nfp32 export: model.onnx {steps['export']['files']['model.onnx'] / 2**20:.1f} MiB, "
          f"model.onnx_data {data / 2**30:.2f} GiB; int4: {steps['int4']['quantized_nodes']} "
          f"MatMuls quantised")
    print(f"\nrun-time peak RSS against 1.3 x weights + KV cache (MiB; the bare runtime "
          f"process alone peaks at {steps['baseline']['peak_rss_mib']:.0f}):")
    ok = True
    for key in ("score big-fp32", "gen big-fp32", "score big-int4", "gen big-int4"):
        s = steps[key]
        bound = (RSS_FACTOR * s["weights"] + s["kv"]) / 2**20
        passed = s["peak_rss_mib"] < bound
        ok &= passed
        print(f"  {key:<16} peak {s['peak_rss_mib']:8.0f}  weights {s['weights'] / 2**20:8.0f}  "
              f"KV {s['kv'] / 2**20:6.0f}  bound {bound:8.0f}  {'ok' if passed else 'OVER'}")
    for name in ("big-fp32", "big-int4"):
        sc, gen = steps[f"score {name}"], steps[f"gen {name}"]
        print(f"{name}: load {sc['load_s']:.1f} s, {N_ITEMS} scorings {sc['seconds']:.1f} s "
              f"({N_ITEMS / sc['seconds']:.2f} items/s), {gen['tokens']} tokens generated in "
              f"{gen['seconds']:.1f} s ({gen['tok_s']:.2f} tok/s); {sc['head']} head, "
              f"attention {sc['attention']}")
    a, b = steps["score big-fp32"], steps["score big-int4"]
    same = sum(x == y for x, y in zip(a["choices"], b["choices"])) / N_ITEMS
    dp = max(abs(p[k] - q[k]) for p, q in zip(a["probs"], b["probs"]) for k in p)
    top = sum(max(p.values()) for p in a["probs"]) / N_ITEMS
    print(f"int4 vs fp32 on {N_ITEMS} MCQ prompts (not held out; random weights): same answer "
          f"{same:.0%}, max |dp| {dp:.3f}; fp32 mean top-option probability {top:.2f}, "
          f"{len(set(a['choices']))} distinct answers")
    print(f"total {total / 60:.1f} min; load {os.getloadavg()[0]:.2f}; RSS bound "
          f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
