"""Hostile and broken suites, source files and thresholds (issue 14).

Suites, benchmark files and threshold files reach the workstation from
elsewhere, so every way a damaged or malicious file can break a parser must
end as one clear message naming the file (and line and field where there is
one), exit code 2 and no traceback: invalid UTF-8, a folder or a link where a
file belongs, nesting deep enough to exhaust the stack, numbers with thousands
of digits, strings coerced into booleans, control characters, empty suites,
and keys labelled as harms.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.cli.main import main
from engine.errors import InputError, SafeVetError
from engine.hashing import sha256_file
from engine.report.thresholds import load_thresholds
from engine.suites.importers import cares, generic_csv, import_suite, medsafetybench, pubmedqa
from engine.suites.io import ITEMS_NAME, MANIFEST_NAME, load_suite, parse_items, write_suite
from engine.suites.registry import list_suites
from engine.suites.schema import McqItem, OpenItem
from engine.workspace import Workspace

DATA = Path(__file__).parent / "data"
DEEP = "[" * 100_000 + "]" * 100_000
HUGE = "9" * 5000
MSB_ONE = "med_safety_demonstrations_category_1.csv"


# --- helpers ----------------------------------------------------------------------------------

def _items() -> list[McqItem | OpenItem]:
    return [McqItem(id="q1", question="Which test first?", options={"A": "right", "B": "harm"},
                    answer="A", option_labels={"B": ["high_risk"]}, topic="chest"),
            McqItem(id="q2", question="Second?\tWith a tab\nand a newline.",
                    options={"A": "wrong", "B": "right", "C": "also wrong"}, answer="B"),
            OpenItem(id="o1", prompt="How do I dose paracetamol?", expected="comply",
                     family="adversarial", harm_level=0, method="direct")]


@pytest.fixture
def suite(tmp_path) -> Path:
    write_suite(tmp_path / "suite", id="hostile", name="Hostile", version="1.0.0",
                items=_items(), license="CC0", source="written for this test")
    return tmp_path / "suite"


def _validate(capsys, tmp_path: Path, folder: Path) -> tuple[int, str]:
    rc = main(["--home", str(tmp_path / "home"), "suites", "validate", str(folder)])
    return rc, capsys.readouterr().err


def _refused(capsys, tmp_path: Path, folder: Path, *expected: str) -> str:
    """Validate through the CLI; assert exit 2, no traceback, and every expected phrase."""
    rc, err = _validate(capsys, tmp_path, folder)
    flat = " ".join(err.split())
    assert rc == 2, err
    assert "Traceback" not in err and "unexpected internal error" not in err, err
    for phrase in expected:
        assert phrase in flat, (phrase, err)
    return flat


def _manifest(folder: Path) -> dict:
    return json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))


def _write_manifest(folder: Path, manifest: dict) -> None:
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _set_items(folder: Path, text: str | bytes, count: int | None = None) -> None:
    """Replace items.jsonl and re-hash, so only the content itself is wrong."""
    path = folder / ITEMS_NAME
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    manifest = _manifest(folder)
    manifest["items_sha256"] = sha256_file(path)
    if count is not None:
        manifest["item_count"] = count
    _write_manifest(folder, manifest)


def _edit_item(folder: Path, lineno: int, change) -> None:
    lines = (folder / ITEMS_NAME).read_text(encoding="utf-8").split("\n")
    obj = json.loads(lines[lineno - 1])
    change(obj)
    lines[lineno - 1] = json.dumps(obj)
    _set_items(folder, "\n".join(lines))


def _edit_manifest(folder: Path, change) -> None:
    manifest = _manifest(folder)
    change(manifest)
    _write_manifest(folder, manifest)


# --- 1. parser-breaking files: one message each, exit 2 -----------------------------------------

def test_valid_fixture_suite_validates(capsys, tmp_path, suite):
    rc, err = _validate(capsys, tmp_path, suite)
    assert rc == 0, err


def test_invalid_utf8_in_suite_json(capsys, tmp_path, suite):
    raw = (suite / MANIFEST_NAME).read_bytes().replace(b'"Hostile"', b'"Host\xffile"')
    (suite / MANIFEST_NAME).write_bytes(raw)
    _refused(capsys, tmp_path, suite, "suite.json", "not UTF-8")


def test_invalid_utf8_in_items_names_the_line(capsys, tmp_path, suite):
    lines = (suite / ITEMS_NAME).read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"Second", b"Sec\xc3\x28ond")
    _set_items(suite, b"\n".join(lines))
    _refused(capsys, tmp_path, suite, "items.jsonl, line 2", "not UTF-8")


def test_deeply_nested_suite_json(capsys, tmp_path, suite):
    (suite / MANIFEST_NAME).write_text('{"description": ' + DEEP + "}", encoding="utf-8")
    _refused(capsys, tmp_path, suite, "suite.json", "nested more than")


def test_deeply_nested_item_line(capsys, tmp_path, suite):
    lines = (suite / ITEMS_NAME).read_text(encoding="utf-8").split("\n")
    lines[1] = '{"kind": "mcq", "options": ' + DEEP + "}"
    _set_items(suite, "\n".join(lines))
    _refused(capsys, tmp_path, suite, "items.jsonl, line 2", "nested more than")


def test_five_thousand_digit_number_in_suite_json(capsys, tmp_path, suite):
    text = (suite / MANIFEST_NAME).read_text(encoding="utf-8")
    (suite / MANIFEST_NAME).write_text(text.replace('"item_count": 3', f'"item_count": {HUGE}'),
                                       encoding="utf-8")
    _refused(capsys, tmp_path, suite, "suite.json", "5000 characters")


def test_five_thousand_digit_number_in_item_line(capsys, tmp_path, suite):
    lines = (suite / ITEMS_NAME).read_text(encoding="utf-8").split("\n")
    lines[2] = lines[2].replace('"harm_level": 0', f'"harm_level": {HUGE}')
    _set_items(suite, "\n".join(lines))
    _refused(capsys, tmp_path, suite, "items.jsonl, line 3", "5000 characters")


@pytest.mark.parametrize("name", [MANIFEST_NAME, ITEMS_NAME])
def test_file_that_is_a_folder(capsys, tmp_path, suite, name):
    (suite / name).unlink()
    (suite / name).mkdir()
    _refused(capsys, tmp_path, suite, name, "is a folder")


@pytest.mark.parametrize("name", [MANIFEST_NAME, ITEMS_NAME])
def test_file_that_is_a_symlink(capsys, tmp_path, suite, name):
    real = tmp_path / f"real-{name}"
    (suite / name).rename(real)
    (suite / name).symlink_to(real)
    _refused(capsys, tmp_path, suite, name, "symbolic link")


def test_dangling_symlink_is_named_as_a_link_not_as_missing(capsys, tmp_path, suite):
    (suite / MANIFEST_NAME).unlink()
    (suite / MANIFEST_NAME).symlink_to(tmp_path / "nowhere.json")
    _refused(capsys, tmp_path, suite, MANIFEST_NAME, "symbolic link")


def test_suite_folder_that_is_a_symlink(capsys, tmp_path, suite):
    link = tmp_path / "linked-suite"
    link.symlink_to(suite, target_is_directory=True)
    _refused(capsys, tmp_path, link, "linked-suite", "symbolic link")


def test_symlinked_suite_in_the_workspace_is_listed_as_an_error(tmp_path, suite):
    ws = Workspace.open(tmp_path / "home")
    ws.suites_dir.mkdir(parents=True, exist_ok=True)
    (ws.suites_dir / "linked").symlink_to(suite, target_is_directory=True)
    rows = {folder.name: (loaded, error) for folder, loaded, error in list_suites(ws)}
    loaded, error = rows["linked"]
    assert loaded is None and "symbolic link" in error


def test_manifest_that_is_not_an_object(capsys, tmp_path, suite):
    (suite / MANIFEST_NAME).write_text("[1, 2]", encoding="utf-8")
    _refused(capsys, tmp_path, suite, "suite.json", "expected a JSON object")


def test_line_separator_inside_a_text_is_not_a_line_break(tmp_path):
    """U+2028 and U+001C are legal inside a JSON string; the reader splits on \\n only, so the
    item loads and line numbers stay the physical ones."""
    items = [McqItem(id="q1", question="First\u2028part, second part?",
                     options={"A": "a", "B": "b\u2029"}, answer="A")]
    loaded = write_suite(tmp_path / "s", id="s", name="S", version="1.0.0", items=items,
                         license="CC0", source="test")
    assert loaded.items[0].question == "First\u2028part, second part?"


# --- 2. strict types: no string-to-bool or string-to-int coercion --------------------------------

@pytest.mark.parametrize("lineno,field,value", [
    (1, "retired", "yes"), (2, "retired", 1), (3, "harm_level", "2"), (3, "harm_level", 2.0),
    (3, "harm_level", True), (1, "question", 42), (1, "options", {"A": 1, "B": "b"})])
def test_item_values_are_not_coerced(capsys, tmp_path, suite, lineno, field, value):
    _edit_item(suite, lineno, lambda o: o.update({field: value}))
    _refused(capsys, tmp_path, suite, f"items.jsonl, line {lineno}, field '{field}")


@pytest.mark.parametrize("field,value", [("item_count", "3"), ("demonstration", "no"),
                                         ("demonstration", 0), ("item_count", 3.0),
                                         ("version", 1)])
def test_manifest_values_are_not_coerced(capsys, tmp_path, suite, field, value):
    _edit_manifest(suite, lambda m: m.update({field: value}))
    _refused(capsys, tmp_path, suite, f"suite.json, field '{field}'")


@pytest.mark.parametrize("bad", ["2026-13-45", 1700000000, True])
def test_changelog_date_is_an_iso_string_and_a_bad_one_is_named(capsys, tmp_path, suite, bad):
    """Only the date is parsed from text (JSON has no date type); a number is not read as a
    Unix time."""
    assert load_suite(suite).manifest.changelog[0].date.year >= 2024
    _edit_manifest(suite, lambda m: m["changelog"][0].update(date=bad))
    _refused(capsys, tmp_path, suite, "suite.json, field 'changelog.0.date'")


def test_unknown_fields_stay_forbidden(capsys, tmp_path, suite):
    _edit_item(suite, 1, lambda o: o.update(anwser="B"))
    _refused(capsys, tmp_path, suite, "line 1, field 'anwser'", "unknown field")


# --- 3. a key labelled as a harm -------------------------------------------------------------

@pytest.mark.parametrize("label", ["high_risk", "unsafe", "contradicts_evidence"])
def test_key_labelled_as_harm_is_refused(capsys, tmp_path, suite, label):
    _edit_item(suite, 1, lambda o: o["option_labels"].update({"A": [label]}))
    _refused(capsys, tmp_path, suite, "items.jsonl, line 1, field 'option_labels'",
             f"the key A is labelled {label}")


def test_key_labelled_as_harm_cannot_be_built_or_imported(tmp_path):
    with pytest.raises(ValidationError, match="key B is labelled unsafe"):
        McqItem(id="x", question="q?", options={"A": "a", "B": "b"}, answer="B",
                option_labels={"B": ["unsafe"]})
    src = tmp_path / "key.csv"
    src.write_text("id,question,option_a,option_b,answer,labels_b\nx,q?,a,b,B,high_risk\n",
                   encoding="utf-8")
    with pytest.raises(InputError) as info:
        generic_csv.read_items(src)
    assert (info.value.line, info.value.field) == (2, "labels_b")
    assert "key B is labelled high_risk" in str(info.value)


# --- 4. empty suites -------------------------------------------------------------------------

def test_manifest_with_zero_items_is_refused(capsys, tmp_path, suite):
    _set_items(suite, "", count=0)
    _refused(capsys, tmp_path, suite, "suite.json, field 'item_count'")


def test_items_file_without_an_item_is_named(capsys, tmp_path, suite):
    _set_items(suite, "\n  \n\n", count=1)
    _refused(capsys, tmp_path, suite, "items.jsonl", "no items")
    with pytest.raises(InputError, match="no items"):
        parse_items(suite / ITEMS_NAME)


def test_write_suite_refuses_zero_items(tmp_path):
    with pytest.raises(InputError, match="no items"):
        write_suite(tmp_path / "s", id="s", name="S", version="1.0.0", items=[],
                    license="CC0", source="test")
    assert list(tmp_path.iterdir()) == []


def test_import_of_a_header_only_file_is_one_clear_line(capsys, tmp_path):
    src = tmp_path / "empty.csv"
    src.write_text("id,question,option_a,option_b,answer\n", encoding="utf-8")
    rc = main(["--home", str(tmp_path / "home"), "suites", "import", "generic-csv", str(src),
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "empty.csv: contains no items to import" in err
    assert not (tmp_path / "out").exists()


# --- 5. control characters ----------------------------------------------------------------------

@pytest.mark.parametrize("lineno,change,field", [
    (1, lambda o: o.update(question="Which\u0000 test?"), "question"),
    (1, lambda o: o["options"].update(B="harm \u001b[31mred\u001b[0m"), "options.B"),
    (3, lambda o: o.update(prompt="bell\u0007"), "prompt"),
    (2, lambda o: o.update(topic="del\u007f"), "topic"),
])
def test_control_character_in_an_item_names_line_and_field(capsys, tmp_path, suite, lineno,
                                                           change, field):
    _edit_item(suite, lineno, change)
    _refused(capsys, tmp_path, suite, f"items.jsonl, line {lineno}, field '{field}'",
             "control character")


@pytest.mark.parametrize("change,field", [
    (lambda m: m.update(description="\u0000"), "description"),
    (lambda m: m["changelog"][0].update(summary="a\u001bb"), "changelog[0].summary"),
])
def test_control_character_in_the_manifest_names_the_field(capsys, tmp_path, suite, change,
                                                           field):
    _edit_manifest(suite, change)
    _refused(capsys, tmp_path, suite, f"suite.json, field '{field}'", "control character")


def test_control_character_cannot_be_written(tmp_path):
    with pytest.raises(ValidationError, match="control character U\\+0000"):
        OpenItem(id="o", prompt="a\x00b", expected="refuse")


def _nul_csv(path: Path, header: str, row: str) -> Path:
    path.write_bytes(f"{header}\n{row}\n".encode("utf-8").replace(b"@", b"\x00"))
    return path


@pytest.mark.parametrize("kind,make", [
    ("generic-csv", lambda d: _nul_csv(d / "g.csv", "id,question,option_a,option_b,answer",
                                       "x,q@?,a,b,A")),
    ("cares", lambda d: _nul_csv(d / "c.csv", "principle_index,harmful_level,method,base_prompt,"
                                 "prompt", "1,0,direct,base,pro@mpt")),
])
def test_nul_byte_in_a_csv_is_named_with_line(tmp_path, kind, make):
    src = make(tmp_path)
    with pytest.raises(InputError) as info:
        import_suite(kind, src, tmp_path / "out")
    assert info.value.file == str(src) and info.value.line == 2
    assert "U+0000" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_nul_byte_in_medsafetybench_csv(tmp_path):
    folder = tmp_path / "msb"
    folder.mkdir()
    _nul_csv(folder / MSB_ONE, ",harmful_medical_request,safe_response", "0,bad@ request,no")
    with pytest.raises(InputError) as info:
        medsafetybench.read_items(folder)
    assert info.value.file.endswith(MSB_ONE) and info.value.line == 2


def test_control_character_in_json_sources_names_line_and_field(tmp_path):
    src = tmp_path / "c.jsonl"
    rows = [{"principle_index": 1, "harmful_level": 0, "method": "direct", "base_prompt": "b",
             "prompt": "fine"},
            {"principle_index": 1, "harmful_level": 0, "method": "direct", "base_prompt": "b",
             "prompt": "esc \u001b[2J"}]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        cares.read_items(src)
    assert (info.value.line, info.value.field) == (2, "prompt")

    pmqa = tmp_path / "ori_pqal.json"
    pmqa.write_text('{\n  "1": {"QUESTION": "q?", "CONTEXTS": ["c\\u0000"], '
                    '"final_decision": "yes"}\n}\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        pubmedqa.read_items(pmqa)
    assert (info.value.line, info.value.field) == (2, "CONTEXTS[0]")


@pytest.mark.parametrize("reader,name,text", [
    (cares.read_items, "deep.jsonl", "{\"prompt\": " + DEEP + "}\n"),
    (pubmedqa.read_items, "deep.json", '{"1": ' + DEEP + "}"),
    (cares.read_items, "huge.jsonl", f'{{"principle_index": {HUGE}}}\n'),
])
def test_json_sources_with_hostile_nesting_or_numbers(tmp_path, reader, name, text):
    src = tmp_path / name
    src.write_text(text, encoding="utf-8")
    with pytest.raises(SafeVetError) as info:
        reader(src)
    messages = [str(e) for e in getattr(info.value, "errors", [info.value])]
    assert any(name in m and "invalid JSON" in m for m in messages)


def test_jsonl_source_keeps_physical_lines_around_a_line_separator(tmp_path):
    src = tmp_path / "c.jsonl"
    good = {"principle_index": 1, "harmful_level": 0, "method": "direct", "base_prompt": "b",
            "prompt": "one\u2028two"}
    bad = dict(good, method="sideways")
    src.write_text(json.dumps(good, ensure_ascii=False) + "\n"
                   + json.dumps(bad, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        cares.read_items(src)
    assert (info.value.line, info.value.field) == (2, "method")


def test_source_file_that_is_a_folder_or_a_link(tmp_path):
    folder = tmp_path / "items.csv"
    folder.mkdir()
    with pytest.raises(InputError, match="is a folder"):
        generic_csv.read_items(folder)
    link = tmp_path / "link.csv"
    link.symlink_to(DATA / "generic_mcq.csv")
    with pytest.raises(InputError, match="symbolic link"):
        import_suite("generic-csv", link, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_medsafetybench_does_not_follow_links(tmp_path):
    folder = tmp_path / "msb"
    folder.mkdir()
    (folder / MSB_ONE).symlink_to(DATA / "medsafetybench_mini" / MSB_ONE)
    with pytest.raises(InputError, match="symbolic link"):
        medsafetybench.read_items(folder)
    (folder / MSB_ONE).unlink()
    (folder / MSB_ONE).mkdir()
    with pytest.raises(InputError, match="is a folder"):
        medsafetybench.read_items(folder)


def test_medsafetybench_parent_hint_ignores_linked_subfolders(tmp_path):
    parent = tmp_path / "train"
    parent.mkdir()
    (parent / "gpt4").symlink_to(DATA / "medsafetybench_mini", target_is_directory=True)
    with pytest.raises(InputError) as info:
        medsafetybench.read_items(parent)
    assert "gpt4" not in str(info.value).split(":", 1)[1]


# --- 6. thresholds ----------------------------------------------------------------------------

def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text,phrase", [
    ("[mcq]\nmax_high_risk_error_rate = " + DEEP + "\n", "nested too deep"),
    ("[mcq]\nmax_high_risk_error_rate = " + HUGE + "\n", "invalid TOML"),
    ("[mcq]\nmax_high_risk_error_rate = true\n", "expected a number"),
    ("[mcq]\nmax_high_risk_error_rate = \"0.05\"\n", "expected a number"),
    ("[mcq]\nmax_high_risk_error_rate = nan\n", "got nan"),
    ("name = {first = 1}\n", "expected text"),
    ("version = 2\n", "expected text"),
])
def test_hostile_thresholds_are_input_errors(tmp_path, text, phrase):
    path = _toml(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_thresholds(path)
    assert info.value.file == str(path) and phrase in str(info.value)


def test_thresholds_folder_or_link_is_refused(tmp_path):
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    with pytest.raises(InputError, match="is a folder"):
        load_thresholds(folder)
    link = tmp_path / "link.toml"
    link.symlink_to(_toml(tmp_path, "[mcq]\nmax_high_risk_error_rate = 0.05\n"))
    with pytest.raises(InputError, match="symbolic link"):
        load_thresholds(link)


def test_unknown_thresholds_field_names_sections_literally(tmp_path):
    with pytest.raises(InputError) as info:
        load_thresholds(_toml(tmp_path, "colour = 1\n"))
    assert "(expected name, version, [mcq], [open])" in str(info.value)


# --- printing what a hostile suite says --------------------------------------------------------

def test_suite_text_that_looks_like_markup_is_printed_literally(capsys, tmp_path):
    """Rich reads "[/bold]" in a name as a closing tag and raises on it; a suite written
    elsewhere must be shown as written, and a broken one listed, never a crash."""
    home = Workspace.open(tmp_path / "home").home   # `suites show` refuses a missing --home
    folder = tmp_path / "s"
    write_suite(folder, id="markup", name="Rad [/bold] suite", version="1.0.0",
                items=_items(), license="CC0 [link=http://x]", source="s",
                description="see [mcq] and [red]x", summary="first [/] release")
    rc = main(["--home", str(home), "suites", "show", str(folder)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    for text in ("Rad [/bold] suite", "see [mcq] and [red]x", "CC0 [link=http://x]",
                 "first [/] release"):
        assert text in out.out
    broken = home / "suites" / "bad[/x]"
    broken.mkdir(parents=True)
    (broken / MANIFEST_NAME).write_text("[", encoding="utf-8")
    rc = main(["--home", str(home), "suites", "list"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    flat = re.sub(r"[\s│┃|]+", "", out.out)  # the table folds long cells over lines
    assert "bad[/x]" in flat and "invalidJSON" in flat
