"""One process owns a store: a real second process is refused, by name, until release."""
from __future__ import annotations

import os
import subprocess
import sys

from engine.retrieval.corpus import ingest_corpus, open_corpus
from tests.fixtures.retrieval import REPO_ROOT


def _second_process(home, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--home", str(home),
                           "corpus", *args], capture_output=True, text=True, env=env,
                          cwd=REPO_ROOT, timeout=120)


def test_second_writer_is_refused_then_admitted(embedder_ws, tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("# A\n\nContrast allergy premedication protocol.\n")
    ingest_corpus(embedder_ws, [doc], "shared")
    holder = open_corpus(embedder_ws, "shared")
    try:
        # this process can still use it (same-process users share the lock)
        assert ingest_corpus(embedder_ws, [doc], "shared").unchanged == ["a.md"]
        refused = _second_process(embedder_ws.home, "ingest", str(doc), "--name", "shared")
        assert refused.returncode == 2, refused.stderr
        msg = " ".join(refused.stderr.split())
        assert "corpus 'shared' is in use by another SafeVet process" in msg
        assert f"pid {os.getpid()}" in msg
        assert "Traceback" not in refused.stderr
    finally:
        holder.close()
    admitted = _second_process(embedder_ws.home, "query", "shared", "premedication", "-k", "1")
    assert admitted.returncode == 0, admitted.stderr
    assert "a.md::0" in admitted.stdout
