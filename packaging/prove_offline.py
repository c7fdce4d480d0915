#!/usr/bin/env python3
"""Prove an offline bundle installs and runs with no network (standard library only).

    python3 packaging/prove_offline.py BUNDLE(.tar or folder) [--workdir DIR]
            [--no-strace] [--demo full|skip] [--keep]

Every step runs inside `unshare -n` (a network namespace with no interface but a
downed loopback: any connection attempt fails) with a scrubbed environment
(`env -i`, no PIP_* settings, the system's python3.11), and - unless --no-strace -
under `strace -f -e trace=connect`, which records every connect() any process
made, including ones from C code and ones that failed. The proof passes only if:
  - the installer verifies the checksums, installs, registers the default models
    and runs `safevet doctor` (exit 0);
  - `safevet demo` runs (both default candidates, demo suites, six conditions)
    and every PDF it wrote verifies with `safevet verify` against the demo
    certificate;
  - the traces hold zero AF_INET/AF_INET6 connect() calls.
A JSON summary (sizes, times, PDFs, connection counts) is printed and written to
WORKDIR/proof.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

INET_CONNECT = re.compile(r"connect\(\d+, \{sa_family=AF_INET6?\b")
INET_DEST = re.compile(r"sin6?_port=htons\((\d+)\).*?(?:inet_addr|inet_pton\(AF_INET6?, )\(?\"([^\"]+)\"")
UNIX_CONNECT = re.compile(r"connect\(\d+, \{sa_family=AF_UNIX, sun_path=\"([^\"]*)\"")


class ProofError(Exception):
    pass


def say(msg: str) -> None:
    print(f"[prove-offline] {msg}", flush=True)


def unshare_problem() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare not installed (util-linux)"
    proc = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"`unshare -n true` is not permitted here: {proc.stderr.strip()[:200]}"
    return None


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


class Prover:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.bundle_arg = Path(args.bundle).resolve()
        self.work = Path(args.workdir or tempfile.mkdtemp(prefix="safevet-proof-")).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.home = self.work / "home"
        self.prefix = self.work / "prefix"
        self.ws = self.work / "workspace"
        self.home.mkdir(exist_ok=True)
        self.use_strace = not args.no_strace
        if self.use_strace and shutil.which("strace") is None:
            raise ProofError("strace not installed (apt-get install strace), or pass --no-strace")
        self.summary: dict = {"bundle": str(self.bundle_arg), "workdir": str(self.work),
                              "strace": self.use_strace, "steps": {}}

    def env(self) -> dict[str, str]:
        """A clean machine's environment: no pip settings, no proxies, the system Python first."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home),
               "LANG": "C.UTF-8", "PIP_CONFIG_FILE": os.devnull, "TMPDIR": str(self.work),
               "QT_QPA_PLATFORM": "offscreen"}
        if os.environ.get("SAFEVET_KEY_PASSPHRASE"):
            env["SAFEVET_KEY_PASSPHRASE"] = os.environ["SAFEVET_KEY_PASSPHRASE"]
        return env

    def offline(self, name: str, cmd: list, log: Path) -> float:
        wrapped = ["unshare", "-n"]
        if self.use_strace:
            wrapped += ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect", "-o",
                        str(self.work / f"{name}.strace")]
        wrapped += [str(c) for c in cmd]
        say(f"{name}: {' '.join(str(c) for c in cmd)}  (inside unshare -n; log {log})")
        t = time.perf_counter()
        with open(log, "w") as out:
            proc = subprocess.run(wrapped, env=self.env(), stdout=out, stderr=subprocess.STDOUT)
        seconds = round(time.perf_counter() - t, 1)
        self.summary["steps"][name] = {"seconds": seconds, "exit": proc.returncode}
        if proc.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise ProofError(f"{name} failed (exit {proc.returncode}); last lines of {log}:\n{tail}")
        say(f"{name}: ok in {seconds} s")
        return seconds

    def unpack(self) -> Path:
        t = time.perf_counter()
        if self.bundle_arg.is_dir():
            src = self.bundle_arg
            self.summary["bundle_bytes"] = dir_size(src)
            folder = self.work / src.name
            if folder.exists():
                shutil.rmtree(folder)
            shutil.copytree(src, folder)
        else:
            self.summary["bundle_bytes"] = self.bundle_arg.stat().st_size
            with tarfile.open(self.bundle_arg) as tar:
                names = {m.name.split("/")[0] for m in tar.getmembers()}
                if len(names) != 1:
                    raise ProofError(f"{self.bundle_arg}: expected one top folder, got {names}")
                folder = self.work / names.pop()
                if folder.exists():
                    shutil.rmtree(folder)
                for m in tar.getmembers():
                    if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in m.name:
                        raise ProofError(f"{self.bundle_arg}: unsafe member {m.name}")
                tar.extractall(self.work)
        self.summary["steps"]["unpack"] = {"seconds": round(time.perf_counter() - t, 1)}
        return folder

    def connects(self) -> dict:
        inet, unix, per_step, dests = [], {}, {}, {}
        for trace in sorted(self.work.glob("*.strace")):
            for line in trace.read_text(errors="replace").splitlines():
                if INET_CONNECT.search(line):
                    inet.append(f"{trace.name}: {line}")
                    per_step[trace.stem] = per_step.get(trace.stem, 0) + 1
                    d = INET_DEST.search(line)
                    key = f"{d.group(2)}:{d.group(1)}" if d else "?"
                    dests[key] = dests.get(key, 0) + 1
                m = UNIX_CONNECT.search(line)
                if m:
                    unix[m.group(1)] = unix.get(m.group(1), 0) + 1
        return {"inet_connect_calls": len(inet), "inet_by_step": per_step,
                "inet_by_destination": dests, "inet_examples": inet[:20],
                "unix_connect_calls": unix}

    def verify_pdfs(self, safevet: Path, pdfs: list[Path]) -> None:
        if not pdfs:
            raise ProofError("no PDF was written")
        certs = sorted((self.ws / "keys").rglob("*.cert.pem"))
        if len(certs) != 1:
            raise ProofError(f"expected one signing certificate in the workspace, found {certs}")
        verified = []
        for i, pdf in enumerate(pdfs):
            self.offline(f"verify-{i}", [safevet, "--home", self.ws, "verify", pdf,
                                         "--trust", certs[0]], self.work / f"verify-{i}.log")
            verified.append(str(pdf))
        self.summary["pdfs_verified"] = verified

    def smoke(self, safevet: Path) -> None:
        """`safevet demo`'s steps with the smoke profile (first 4 items per suite): corpus,
        both default candidates x both demo suites x all six conditions, a key, one signed
        report per candidate, each verified."""
        src = next((self.prefix / "src").iterdir())
        home = ["--home", self.ws]
        self.offline("smoke-corpus", [safevet, *home, "corpus", "ingest",
                                      src / "assets" / "corpus" / "demo-radiology",
                                      "--name", "demo-radiology"], self.work / "smoke-corpus.log")
        models = ["smollm2-135m-fp32", "smollm2-135m-int8"]
        self.offline("smoke-run", [safevet, *home, "run", "--models", ",".join(models),
                                   "--suites", "demo-radiology-mcq,demo-open-safety",
                                   "--conditions", "all", "--profile", "smoke",
                                   "--corpus", "demo-radiology", "--operator", "proof"],
                     self.work / "smoke-run.log")
        m = re.search(r"run id: (\S+)", (self.work / "smoke-run.log").read_text())
        if not m:
            raise ProofError("no run id in smoke-run.log")
        run_id = m.group(1)
        key = self.ws / "keys" / "proof-signing.p12"
        os.environ["SAFEVET_KEY_PASSPHRASE"] = "proof-only-passphrase"
        self.offline("smoke-keys", [safevet, *home, "keys", "init", "--org", "Offline proof",
                                    "--out", key], self.work / "smoke-keys.log")
        out = self.ws / "reports" / "smoke"
        for model in models:
            self.offline(f"smoke-report-{model}", [safevet, *home, "report", run_id, "--model",
                                                   model, "--key", key, "--out", out],
                         self.work / f"smoke-report-{model}.log")
        self.summary["smoke_run_id"] = run_id
        self.verify_pdfs(safevet, sorted(out.rglob("*.pdf")))

    def run(self) -> dict:
        problem = unshare_problem()
        if problem:
            raise ProofError(problem)
        folder = self.unpack()
        info = json.loads((folder / "bundle.json").read_text())
        self.summary["variant"] = info["variant"]
        self.offline("install", [folder / "install.sh", "--prefix", self.prefix,
                                 "--home", self.ws], self.work / "install.log")
        record = json.loads((self.prefix / "install-record.json").read_text())
        self.summary["install_record"] = record
        self.summary["prefix_bytes"] = dir_size(self.prefix)
        safevet = self.prefix / "venv" / "bin" / "safevet"
        if self.args.demo == "full":
            self.offline("demo", [safevet, "--home", self.ws, "demo"], self.work / "demo.log")
            self.verify_pdfs(safevet, sorted((self.ws / "reports").rglob("*.pdf")))
        elif self.args.demo == "smoke":
            self.smoke(safevet)
        if self.use_strace:
            self.summary["connections"] = self.connects()
            if self.summary["connections"]["inet_connect_calls"]:
                raise ProofError("network connections were attempted: "
                                 + json.dumps(self.summary["connections"]["inet_examples"]))
        self.summary["result"] = "passed"
        return self.summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="prove_offline.py", description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", help="bundle .tar or unpacked bundle folder")
    p.add_argument("--workdir", help="where to unpack, install and run (default: a new temp dir)")
    p.add_argument("--no-strace", action="store_true", help="only unshare -n (timing runs)")
    p.add_argument("--demo", choices=("full", "smoke", "skip"), default="full",
                   help="`safevet demo` and verify its PDFs (default); `smoke`: the same steps "
                        "with the smoke profile (minutes, not an hour); `skip`: install only")
    p.add_argument("--keep", action="store_true", help="keep the workdir (default: keep only "
                                                        "logs, traces and proof.json)")
    args = p.parse_args(argv)
    prover = None
    try:
        prover = Prover(args)
        summary = prover.run()
        code = 0
    except ProofError as exc:
        say(f"FAILED: {exc}")
        summary = dict(prover.summary if prover else {}, result="failed", error=str(exc))
        code = 1
    if prover:
        (prover.work / "proof.json").write_text(json.dumps(summary, indent=2) + "\n")
        if not args.keep:
            for sub in ("prefix", "workspace", "home"):
                shutil.rmtree(prover.work / sub, ignore_errors=True)
            for child in prover.work.iterdir():
                if child.is_dir() and child.name.startswith("safevet-offline-"):
                    shutil.rmtree(child, ignore_errors=True)
    print(json.dumps(summary, indent=2))
    return code


if __name__ == "__main__":
    sys.exit(main())
