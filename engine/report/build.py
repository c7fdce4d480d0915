"""build_report: one signed PDF for one candidate model of one run.

Order matters: the key is unlocked first (a wrong passphrase should not cost a
bootstrap), the figures are computed once, the manifest is made from the same
context the pages are drawn from, and the file only appears under its final
name once signed.
"""
from __future__ import annotations

import re
from pathlib import Path

from engine.environment_info import package_versions
from engine.errors import NotFoundError, SafeVetError
from engine.compare.types import CandidateRef
from engine.events import ProgressCallback, emit
from engine.judges.concordance import judge_concordance
from engine.report.context import ReportContext, suite_infos
from engine.figures import (DEFAULT_N_BOOT, DEFAULT_SEED, MetricParams, run_figures,
                            run_suites_for)
from engine.report.keys import load_signing_identity
from engine.report.layout import render_pdf
from engine.report.manifest import build_manifest, manifest_bytes, manifest_sha256
from engine.report.signing import SignRequest, sign_pdf
from engine.report.thresholds import evaluate, load_thresholds, overall
from engine.runs.records import RunRecord
from engine.store.db import ResultsStore
from engine.suites.schema import McqItem
from engine.workspace import Workspace

STAGE = "report"
STEPS = 5


def run_models(store: ResultsStore, run: RunRecord) -> list[str]:
    """The candidate models of a run: as planned, then any with stored calls."""
    planned = run.models
    return planned + [m for m in store.models_with_calls(run.id) if m not in planned]


def report_filename(run_id: str, model: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model)
    return f"safevet-report-{run_id}-{safe}.pdf"


def _model_manifest(ws: Workspace, model: str) -> tuple[dict | None, str]:
    from engine.models.registry import get_manifest
    try:
        return get_manifest(ws, model).model_dump(mode="json"), ""
    except SafeVetError as exc:
        return None, f"model '{model}' is no longer in this workspace ({exc})"


def _corpus_manifest(ws: Workspace, name: str | None) -> tuple[dict | None, str]:
    if not name:
        return None, "none used by this run"
    from engine.retrieval.corpus import list_corpora
    for m in list_corpora(ws):
        if m.name == name:
            return m.model_dump(mode="json"), ""
    return None, f"corpus '{name}' is not in this workspace any more (manifest not available)"


def _stewardship(store: ResultsStore, suite_ids: list[str]) -> list[dict]:
    """Review records of the scored suites (only suites someone actually reviewed)."""
    from engine.stewardship.appendix import stewardship_appendix

    out = []
    for sid in suite_ids:
        app = stewardship_appendix(store, sid)
        if app.versions or app.decisions:
            out.append(app.model_dump(mode="json"))
    return out


def _comparison(ws: Workspace, store: ResultsStore, this: CandidateRef,
                other: CandidateRef | None, thresholds, n_boot: int, seed: int):
    """The "Compared with" figures (this report's model as B), or None when not asked."""
    if other is None:
        return None
    from engine.compare.candidates import compare_candidates
    from engine.compare.reliance import gate_of
    if other == this:
        raise SafeVetError(f"--compare-with {other.model}: a model cannot be compared with "
                           f"itself in the same run")
    return compare_candidates(store, other, this, ws=ws, n_boot=n_boot, seed=seed,
                              judge_gate=gate_of(thresholds))


def build_report(ws: Workspace, store: ResultsStore, run_id: str, model: str,
                 key_path: str | Path, passphrase: str | bytes,
                 thresholds_path: str | Path | None = None, out_dir: str | Path | None = None,
                 progress: ProgressCallback | None = None, *, n_boot: int = DEFAULT_N_BOOT,
                 seed: int = DEFAULT_SEED, compare_with: CandidateRef | None = None) -> Path:
    """Compute, lay out, embed the manifest, sign; returns the signed PDF's path.

    `compare_with`: another candidate (a model of this run, or of a comparable run) to
    add a "Compared with" section against, this model being B."""
    key_path = Path(key_path)
    identity = load_signing_identity(key_path, passphrase)
    thresholds = load_thresholds(thresholds_path)
    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} is not in the results store {store.path}")
    models = run_models(store, run)
    if model not in models:
        raise NotFoundError(f"model {model!r} is not part of run {run_id} "
                            f"(its models: {', '.join(models) or 'none'})")
    emit(progress, STAGE, f"{model}: computing figures", done=0, total=STEPS, model=model)
    params = MetricParams(tau=run.config.settings.tau, n_boot=n_boot, seed=seed)
    suites = run_suites_for(store, run, ws, model)
    metrics = run_figures(store, run_id, ws=ws, model=model, params=params, suites=suites)
    items_run = store.items_scored(run_id, model)
    emit(progress, STAGE, f"{model}: judging thresholds", done=1, total=STEPS, model=model)
    results = evaluate(metrics, model, thresholds)
    model_manifest, model_note = _model_manifest(ws, model)
    corpus, corpus_note = _corpus_manifest(ws, run.config.corpus)
    comparison = _comparison(ws, store, CandidateRef(run_id=run_id, model=model), compare_with,
                             thresholds, n_boot, seed)
    ctx = ReportContext(
        run=run, model=model, metrics=metrics, params=params, thresholds=thresholds,
        results=results, overall=overall(results), suites=suite_infos(suites, run, items_run),
        model_manifest=model_manifest, model_manifest_note=model_note, corpus=corpus,
        corpus_note=corpus_note, software=package_versions(), signer=identity.subject_cn,
        organisation=identity.organization,
        item_options={(sid, it.id): dict(it.options) for sid, s in suites.items()
                      for it in s.items if isinstance(it, McqItem)},
        suite_changelogs=[(sid, e.model_dump(mode="json")) for sid, s in sorted(suites.items())
                          for e in s.manifest.changelog],
        stewardship=_stewardship(store, sorted(suites)),
        judge_pairs=judge_concordance(store, run_id, model),
        comparison=comparison)
    data = manifest_bytes(build_manifest(ctx))
    ctx.manifest_sha256 = manifest_sha256(data)
    emit(progress, STAGE, f"{model}: laying out pages and charts", done=2, total=STEPS,
         model=model)
    pdf = render_pdf(ctx)
    emit(progress, STAGE, f"{model}: signing", done=3, total=STEPS, model=model)
    out_dir = Path(out_dir) if out_dir else ws.reports_dir
    out = sign_pdf(pdf, SignRequest(identity=identity, p12_path=key_path, passphrase=passphrase),
                   data, out_dir / report_filename(run_id, model))
    emit(progress, STAGE, f"{model}: written {out.name}", done=STEPS, total=STEPS, model=model,
         path=str(out), verdict=ctx.overall.value)
    return out
