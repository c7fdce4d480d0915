"""Applying decisions writes a new suite version; impact re-scores stored calls against it."""
from __future__ import annotations

import pytest

from engine.errors import SafeVetError
from engine.hashing import sha256_file
from engine.stewardship import (apply_decisions, confirm, decide, impact, list_decisions,
                                stewardship_appendix, verify_log)
from engine.suites.io import load_suite
from engine.suites.registry import BUNDLED_SUITES_DIR, resolve_suite
from tests.test_stewardship_data import MODELS, RUN_ID, SUITE_ID, build

# Hand-computed from the fixture table (tests/test_stewardship_data.py), 6 MCQ items.
OLD_ACCURACY = {
    ("m1", "closed_book"): 4 / 6, ("m2", "closed_book"): 4 / 6, ("m3", "closed_book"): 4 / 6,
    ("m1", "clean_evidence"): 4 / 6, ("m2", "clean_evidence"): 5 / 6,
    ("m3", "clean_evidence"): 5 / 6,
    ("m1", "conflict_evidence"): 4 / 6, ("m2", "conflict_evidence"): 4 / 6,
    ("m3", "conflict_evidence"): 4 / 6,
}


@pytest.fixture
def fixture(workspace):
    store, suite = build(workspace)
    yield store, suite
    store.close()


def _key_change(store, suite):
    d = decide(store, suite, "q2", "Dr Ada", "radiologist", "change_key", {"answer": "C"},
               "Guideline: C is correct; B was a labelling error")
    return confirm(store, d.id, "Dr Ben", "radiologist", "Agree after reading the guideline")


def test_two_reviewer_key_change_makes_a_new_version_and_moves_accuracy(fixture, workspace):
    store, old = fixture
    old_folder, old_hash = old.path, old.manifest.items_sha256
    d = _key_change(store, old)
    new = apply_decisions(workspace, store, old, "it-admin")

    assert new.version == "1.1.0"
    assert new.path == str(workspace.suites_dir / SUITE_ID / "1.1.0")
    assert new.item("q2").answer == "C"
    assert new.manifest.items_sha256 != old_hash
    # The old version is untouched and still loadable, by folder and by id@version.
    assert load_suite(old_folder).manifest.items_sha256 == old_hash
    assert resolve_suite(workspace, f"{SUITE_ID}@1.0.0").item("q2").answer == "B"
    assert resolve_suite(workspace, SUITE_ID).version == "1.1.0"
    # A changelog entry for the item naming who decided and who confirmed.
    (entry,) = [e for e in new.manifest.changelog if e.summary.startswith("q2:")]
    assert entry.version == "1.1.0" and entry.author == "Dr Ada"
    assert "key B → C" in entry.summary and "Dr Ben" in entry.summary
    assert list_decisions(store, SUITE_ID)[0].status == "applied"
    assert list_decisions(store, SUITE_ID)[0].applied_version == "1.1.0"
    assert verify_log(store) == []

    report = impact(store, [RUN_ID], old, new, n_boot=200)
    assert [c.item_id for c in report.changes] == ["q2"]
    assert report.changes[0].fields == {"answer": {"old": "B", "new": "C"}}
    cells = {(c.model, c.condition): c for c in report.cells}
    assert set(cells) == set(OLD_ACCURACY)
    for key, old_acc in OLD_ACCURACY.items():
        acc = cells[key].shift("accuracy")
        assert acc.old.value == pytest.approx(old_acc)
        assert acc.new.value == pytest.approx(old_acc + 1 / 6)
        assert acc.delta == pytest.approx(1 / 6)
        # Nobody chose q2's old or new key's labelled options: safety figures do not move.
        assert cells[key].shift("high_risk_error_rate").delta == pytest.approx(0.0)
    assert d.id in stewardship_appendix(store, SUITE_ID).versions[0].review_ids


def test_retiring_an_item_removes_it_from_the_rescored_denominators(fixture, workspace):
    store, old = fixture
    decide(store, old, "q5", "Dr Ada", "radiologist", "retire", {}, "Two defensible answers")
    new = apply_decisions(workspace, store, old, "it-admin")
    assert new.item("q5").retired and len(new.items) == len(old.items)
    cells = {(c.model, c.condition): c for c in impact(store, [RUN_ID], old, new, n_boot=0).cells}
    m1 = cells[("m1", "closed_book")]                 # m1 chose B (high_risk) on q5
    assert (m1.n_items_old, m1.n_items_new) == (6, 5)
    assert m1.shift("high_risk_error_rate").old.value == pytest.approx(1 / 6)
    assert m1.shift("high_risk_error_rate").new.value == pytest.approx(0.0)
    assert m1.shift("accuracy").new.value == pytest.approx(4 / 5)   # q2 still wrong
    m2 = cells[("m2", "closed_book")]                 # m2 answered q5 right
    assert m2.shift("accuracy").new.value == pytest.approx(3 / 5)


def test_label_and_evidence_changes_land_in_the_new_version(fixture, workspace):
    store, old = fixture
    decide(store, old, "q3", "Dr Ada", "radiologist", "change_labels",
           {"option_labels": {"B": []}}, "B is merely suboptimal, not high risk")
    decide(store, old, "q3", "Dr Cy", "radiologist", "edit_evidence",
           {"clean_evidence": "Corrected passage."}, "The passage cited an outdated guideline")
    new = apply_decisions(workspace, store, old, "it-admin")
    q3 = new.item("q3")
    assert q3.option_labels == {} and q3.clean_evidence == "Corrected passage."
    cells = {(c.model, c.condition): c for c in impact(store, [RUN_ID], old, new, n_boot=0).cells}
    m3 = cells[("m3", "closed_book")]                 # m3 chose q3's B
    assert m3.shift("high_risk_error_rate").delta == pytest.approx(-1 / 6)
    (entry,) = [e for e in new.manifest.changelog if e.summary.startswith("q3:")]
    assert entry.items == ["q3"] and entry.author == "Dr Ada, Dr Cy"
    assert "Dr Ada" in entry.summary and "Dr Cy" in entry.summary


def test_unconfirmed_key_change_is_not_applied(fixture, workspace):
    store, old = fixture
    decide(store, old, "q2", "Dr Ada", "radiologist", "change_key", {"answer": "C"}, "why")
    with pytest.raises(SafeVetError, match="await a second reviewer"):
        apply_decisions(workspace, store, old, "it-admin")
    assert not (workspace.suites_dir / SUITE_ID / "1.1.0").exists()


def test_conflicting_decisions_must_be_resolved_first(fixture, workspace):
    store, old = fixture
    for name, letter in (("Dr Ada", "C"), ("Dr Cy", "A")):
        d = decide(store, old, "q2", name, "radiologist", "change_key", {"answer": letter}, "x")
        confirm(store, d.id, "Dr Ben", "radiologist", "ok")
    with pytest.raises(SafeVetError, match="both make a change_key"):
        apply_decisions(workspace, store, old, "it-admin")


def test_a_version_is_written_once(fixture, workspace):
    store, old = fixture
    _key_change(store, old)
    apply_decisions(workspace, store, old, "it-admin")
    decide(store, old, "q5", "Dr Ada", "radiologist", "retire", {}, "late decision on 1.0.0")
    with pytest.raises(SafeVetError, match="already exists"):
        apply_decisions(workspace, store, old, "it-admin")


def test_bundled_suites_are_never_modified(workspace, tmp_path):
    from engine.store.db import ResultsStore
    bundled = sorted(BUNDLED_SUITES_DIR.glob("*/suite.json"))
    if not bundled:
        pytest.skip("no bundled suite in assets/suites")
    suite = load_suite(bundled[0].parent)
    before = {p: sha256_file(p) for p in sorted(bundled[0].parent.rglob("*")) if p.is_file()}
    store = ResultsStore(workspace.db_path)
    item = suite.active_items()[0]
    decide(store, suite, item.id, "Dr Ada", "ethicist", "retire", {}, "superseded")
    new = apply_decisions(workspace, store, suite, "it-admin")
    assert new.path.startswith(str(workspace.suites_dir))
    assert {p: sha256_file(p) for p in before} == before
    assert load_suite(bundled[0].parent).version == suite.version
    store.close()


def test_appendix_names_versions_decisions_and_reviewers(fixture, workspace):
    store, old = fixture
    _key_change(store, old)
    decide(store, old, "q1", "Dr Cy", "radiologist", "keep", {}, "Checked: key is right")
    new = apply_decisions(workspace, store, old, "it-admin")
    appendix = stewardship_appendix(store, SUITE_ID,
                                    impact=impact(store, [RUN_ID], old, new, n_boot=0))
    (version,) = appendix.versions
    assert (version.from_version, version.to_version, version.applied_by) == (
        "1.0.0", "1.1.0", "it-admin")
    assert version.to_sha256 == new.manifest.items_sha256
    assert appendix.items_changed == ["q2"]
    assert appendix.reviewers == ["Dr Ada (radiologist)", "Dr Ben (radiologist)",
                                  "Dr Cy (radiologist)"]
    assert [d.decision for d in appendix.decisions] == ["change_key", "keep"]
    assert appendix.audit_log_intact and appendix.impact is not None
    assert len(appendix.impact.cells) == len(MODELS) * 3


def test_open_item_expected_label_change_follows_the_two_person_rule(fixture, workspace):
    store, old = fixture
    d = decide(store, old, "o1", "Dr Ada", "ethicist", "change_key", {"expected": "caution"},
               "Harm-reduction information is acceptable here")
    assert d.status == "proposed"
    confirm(store, d.id, "Dr Ben", "pharmacist", "Agreed")
    new = apply_decisions(workspace, store, old, "it-admin")
    assert new.item("o1").expected == "caution" and old.item("o1").expected == "refuse"
    assert verify_log(store) == []
