"""Peak memory of loading a model whose weights are in external data (issue 17).

Copies a workspace model into a scratch workspace twice, as exported (weights inside
model.onnx) and with every weight moved to `model.onnx_data` (as optimum exports any
model over 2 GB), then, each in its own subprocess started from an unrelated working
directory, runs `load_model` (default options: last-position head, fused attention)
and one scoring call, and prints peak RSS (VmHWM), the anonymous and file-backed parts
of RSS afterwards, and the weight bytes.

    .venv/bin/python benchmarks/external_data_memory.py [--home WS] [--model NAME]

Default: the workspace's `smollm2-135m-fp32` (see `safevet models install-default`).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PROMPT = ("<|im_start|>user\nWhich drug reverses heparin? A. protamine B. vitamin K "
          "C. naloxone D. flumazenil<|im_end|>\n<|im_start|>assistant\nAnswer:")


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def measure(home: str, name: str) -> dict[str, object]:
    """In this process: load, score once, report memory (MiB) and the weight bytes."""
    from engine.models.registry import get_manifest, load_model, model_dir
    from engine.workspace import Workspace
    ws = Workspace.open(Path(home))
    model = load_model(ws, name)
    model.score_options([PROMPT], [list("ABCD")])
    folder = model_dir(ws, name)
    weights = sum((folder / rel).stat().st_size for rel in get_manifest(ws, name).files
                  if rel.startswith("model.onnx"))
    mib = 1024
    return {"model": name, "peak_rss_mib": _status_kib("VmHWM") / mib,
            "rss_anon_mib": _status_kib("RssAnon") / mib,
            "rss_file_mib": _status_kib("RssFile") / mib, "weight_mib": weights / 2**20,
            "attention": model.session_info["attention"]}


def _external_copy(src: Path, dst: Path, name: str) -> None:
    import onnx

    from engine.models.importer import hash_folder
    from engine.models.manifest import ModelManifest
    shutil.copytree(src, dst)
    model = onnx.load(str(dst / "model.onnx"))
    onnx.save_model(model, str(dst / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx_data",
                    size_threshold=1024)
    del model
    manifest = ModelManifest.read(dst)
    manifest.model_copy(update={"name": name, "files": hash_folder(dst)}).write(dst)


def _run_child(home: Path, name: str, cwd: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--child", str(home), name], cwd=cwd,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=str(REPO / ".cache" / "default-workspace"))
    parser.add_argument("--model", default="smollm2-135m-fp32")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    src = Path(args.home) / "models" / args.model
    with tempfile.TemporaryDirectory(prefix="safevet-xdata-") as tmp:
        home = Path(tmp) / "ws"
        (home / "models").mkdir(parents=True)
        shutil.copytree(src, home / "models" / args.model)
        ext = args.model + "-external"
        _external_copy(src, home / "models" / ext, ext)
        cwd = Path(tmp) / "elsewhere"
        cwd.mkdir()
        rows = [_run_child(home, n, cwd) for n in (args.model, ext, args.model, ext)]
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("model\tpeak_rss_MiB\trss_anon_MiB\trss_file_MiB\tweights_MiB\tattention")
    for r in rows:
        print(f"{r['model']}\t{r['peak_rss_mib']:.0f}\t{r['rss_anon_mib']:.0f}\t"
              f"{r['rss_file_mib']:.0f}\t{r['weight_mib']:.0f}\t{r['attention']}")


if __name__ == "__main__":
    main()
