"""The prompt catalog: loading, validation, and in-place edits that keep the file's shape."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ivr.prompts.catalog import CatalogError, load_catalog, parse_catalog, set_text, validate_id

REPO = Path(__file__).resolve().parents[2]
REAL_CATALOG = REPO / "prompts" / "prompts.toml"

SAMPLE = """\
# Top comment: keep me.

[prompts]
"greeting" = "Selamat datang."   # trailing comment
# --- group ---
"nik/ask" = "Sebutkan N I K Anda."
bare_id = 'literal text'
"silence/short" = ""

[words]
# words
"digits/0" = "nol"
"digits/1" = "satu"
"""


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.toml"
    path.write_text(SAMPLE, encoding="utf-8")
    return path


def test_real_catalog_loads_with_both_sections() -> None:
    catalog = load_catalog(REAL_CATALOG)
    assert "greeting" in catalog.ids("prompts")
    assert "digits/0" in catalog.ids("words")
    assert catalog.text("digits/7") == "tujuh"
    assert catalog.ids() == catalog.ids("prompts") + catalog.ids("words")


def test_sample_keeps_file_order_and_sections(catalog_file: Path) -> None:
    catalog = load_catalog(catalog_file)
    assert catalog.ids() == ("greeting", "nik/ask", "bare_id", "silence/short", "digits/0", "digits/1")
    assert catalog.section("digits/1") == "words"
    assert catalog.text("bare_id") == "literal text"
    with pytest.raises(KeyError):
        catalog.text("nope")


def test_set_text_changes_one_line_only(catalog_file: Path) -> None:
    before = catalog_file.read_text(encoding="utf-8").splitlines()
    catalog = set_text(catalog_file, "nik/ask", 'Sebutkan "enam belas" angka N I K.')
    after = catalog_file.read_text(encoding="utf-8").splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(before) == len(after)
    assert changed == [before.index('"nik/ask" = "Sebutkan N I K Anda."')]
    assert catalog.text("nik/ask") == 'Sebutkan "enam belas" angka N I K.'
    reloaded = load_catalog(catalog_file)
    assert reloaded.entries == catalog.entries
    assert reloaded.text("greeting") == "Selamat datang."
    assert reloaded.text("digits/1") == "satu"


def test_set_text_roundtrip_keeps_comments_and_other_entries(catalog_file: Path) -> None:
    set_text(catalog_file, "greeting", "Halo.")
    set_text(catalog_file, "bare_id", "Teks baru, dengan koma.")
    set_text(catalog_file, "greeting", "Selamat datang.")
    text = catalog_file.read_text(encoding="utf-8")
    assert "# Top comment: keep me." in text
    assert "# --- group ---" in text
    assert '"digits/0" = "nol"' in text
    catalog = load_catalog(catalog_file)
    assert catalog.text("bare_id") == "Teks baru, dengan koma."
    assert catalog.ids() == ("greeting", "nik/ask", "bare_id", "silence/short", "digits/0", "digits/1")


def test_set_text_appends_new_id_to_its_table(catalog_file: Path) -> None:
    set_text(catalog_file, "menu/new", "Menu baru.")
    set_text(catalog_file, "digits/2", "dua", section="words")
    catalog = load_catalog(catalog_file)
    assert catalog.section("menu/new") == "prompts"
    assert catalog.ids("prompts")[-1] == "menu/new"
    assert catalog.ids("words")[-1] == "digits/2"


def test_set_text_on_real_catalog_copy_keeps_everything_else(tmp_path: Path) -> None:
    path = tmp_path / "prompts.toml"
    path.write_text(REAL_CATALOG.read_text(encoding="utf-8"), encoding="utf-8")
    before = load_catalog(path)
    set_text(path, "goodbye", "Terima kasih. Sampai jumpa.")
    after = load_catalog(path)
    assert after.ids() == before.ids()
    assert {k: v for k, v in after.entries.items() if k != "goodbye"} == {
        k: v for k, v in before.entries.items() if k != "goodbye"
    }
    assert tomllib.loads(path.read_text(encoding="utf-8"))["prompts"]["goodbye"] == "Terima kasih. Sampai jumpa."


def test_set_text_normalises_whitespace_and_rejects_control_chars(catalog_file: Path) -> None:
    assert set_text(catalog_file, "greeting", "  Halo,\n  apa   kabar?  ").text("greeting") == "Halo, apa kabar?"
    with pytest.raises(CatalogError):
        set_text(catalog_file, "greeting", "bad\x00text")
    assert load_catalog(catalog_file).text("greeting") == "Halo, apa kabar?"


@pytest.mark.parametrize("bad", ["", "../etc/passwd", "a/../b", "/abs", "trail/", "a//b", "Upper", "sp ace", "dot.wav", "nik\\x"])
def test_bad_ids_are_rejected(bad: str) -> None:
    with pytest.raises(CatalogError):
        validate_id(bad)


@pytest.mark.parametrize("good", ["greeting", "nik/ask_simple", "digits/0", "dyn/0123abcd"])
def test_good_ids_pass(good: str) -> None:
    assert validate_id(good) == good


def test_set_text_rejects_bad_id_without_touching_file(catalog_file: Path) -> None:
    before = catalog_file.read_bytes()
    with pytest.raises(CatalogError):
        set_text(catalog_file, "../evil", "x")
    assert catalog_file.read_bytes() == before


def test_invalid_catalogs_are_reported() -> None:
    with pytest.raises(CatalogError, match="not valid TOML"):
        parse_catalog('[prompts]\n"a" = \n')
    with pytest.raises(CatalogError, match="both"):
        parse_catalog('[prompts]\n"a" = "x"\n[words]\n"a" = "y"\n')
    with pytest.raises(CatalogError, match="quote ids"):
        parse_catalog('[prompts]\nnik/ask = "x"\n'.replace("nik/ask", "nik.ask"))
    with pytest.raises(CatalogError, match="unknown table"):
        parse_catalog('[other]\n"a" = "x"\n')
    with pytest.raises(CatalogError, match="bad prompt id"):
        parse_catalog('[prompts]\n"Bad Id" = "x"\n')
