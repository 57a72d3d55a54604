"""Indonesian numbers, dates and times as prompt ids (ivr.dialogue.speak)."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from ivr.dialogue import speak
from ivr.dialogue.speak import (
    ALL_WORD_IDS,
    date_ids,
    digit_ids,
    grouped_digit_ids,
    number_ids,
    time_ids,
    time_window_ids,
)
from ivr.prompts.catalog import load_catalog

REPO = Path(__file__).resolve().parents[2]

# The words as a listener hears them; ids map to words through the catalog's [words].
WORD = {f"digits/{i}": w for i, w in enumerate("nol satu dua tiga empat lima enam tujuh delapan sembilan".split())}
WORD.update({i: i.split("/")[1] for i in ALL_WORD_IDS if i.startswith(("words/", "days/", "months/"))})
WORD["silence/short"] = ","


def said(ids: list[str]) -> str:
    return " ".join(WORD[i] for i in ids).replace(" ,", ",")


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "nol"),
        (1, "satu"),
        (7, "tujuh"),
        (10, "sepuluh"),
        (11, "sebelas"),
        (12, "dua belas"),
        (19, "sembilan belas"),
        (20, "dua puluh"),
        (21, "dua puluh satu"),
        (99, "sembilan puluh sembilan"),
        (100, "seratus"),
        (101, "seratus satu"),
        (110, "seratus sepuluh"),
        (111, "seratus sebelas"),
        (115, "seratus lima belas"),
        (200, "dua ratus"),
        (999, "sembilan ratus sembilan puluh sembilan"),
        (1000, "seribu"),
        (1001, "seribu satu"),
        (1011, "seribu sebelas"),
        (1100, "seribu seratus"),
        (1900, "seribu sembilan ratus"),
        (2000, "dua ribu"),
        (2025, "dua ribu dua puluh lima"),
        (10000, "sepuluh ribu"),
        (11000, "sebelas ribu"),
        (12500, "dua belas ribu lima ratus"),
        (100000, "seratus ribu"),
        (101000, "seratus satu ribu"),
        (111111, "seratus sebelas ribu seratus sebelas"),
        (250000, "dua ratus lima puluh ribu"),
        (600000, "enam ratus ribu"),
        (999999, "sembilan ratus sembilan puluh sembilan ribu sembilan ratus sembilan puluh sembilan"),
    ],
)
def test_numbers(n: int, words: str) -> None:
    assert said(number_ids(n)) == words


def test_number_ids_are_ids_not_words() -> None:
    assert number_ids(2025) == ["digits/2", "words/ribu", "digits/2", "words/puluh", "digits/5"]
    assert number_ids(11) == ["words/sebelas"]


@pytest.mark.parametrize("bad", [-1, 1_000_000])
def test_numbers_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError):
        number_ids(bad)


@pytest.mark.parametrize("bad", [1.5, "12", True])
def test_numbers_need_int(bad: object) -> None:
    with pytest.raises(TypeError):
        number_ids(bad)  # type: ignore[arg-type]


def test_every_number_uses_known_ids_and_the_se_forms() -> None:
    for n in list(range(0, 3000)) + list(range(3000, 1_000_000, 997)) + [21_000, 999_999]:
        ids = number_ids(n)
        assert set(ids) <= ALL_WORD_IDS, n
        if n:
            assert "digits/0" not in ids, n
        # one ten/hundred is sepuluh/seratus, never "satu puluh"/"satu ratus"; one
        # thousand is seribu, but 21 000 is "dua puluh satu ribu"
        pairs = list(zip(ids, ids[1:]))
        assert not any(a == "digits/1" and b in {"words/puluh", "words/ratus", "words/belas"} for a, b in pairs), n
        assert ids[:2] != ["digits/1", "words/ribu"], n
    assert said(number_ids(21_000)) == "dua puluh satu ribu"


def test_date_with_day() -> None:
    assert said(date_ids(dt.date(2025, 7, 24))) == "hari Kamis, tanggal dua puluh empat Juli dua ribu dua puluh lima".lower()
    assert date_ids(dt.date(2025, 7, 24))[:3] == ["words/hari", "days/kamis", "silence/short"]


def test_date_without_day_and_every_month_and_weekday() -> None:
    assert said(date_ids(dt.date(2026, 1, 1), with_day=False)) == "tanggal satu januari dua ribu dua puluh enam"
    assert said(date_ids(dt.date(2024, 12, 31), with_day=False)) == "tanggal tiga puluh satu desember dua ribu dua puluh empat"
    months = {date_ids(dt.date(2025, m, 1), with_day=False)[2] for m in range(1, 13)}
    assert len(months) == 12
    days = {date_ids(dt.date(2025, 7, d))[1] for d in range(21, 28)}
    assert days == {f"days/{d}" for d in ("senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu")}
    assert date_ids(dt.date(2025, 7, 21))[1] == "days/senin"


def test_times() -> None:
    assert said(time_ids(dt.time(8, 0))) == "pukul delapan"
    assert said(time_ids(dt.time(8, 30))) == "pukul delapan lewat tiga puluh menit"
    assert said(time_ids(dt.time(13, 5))) == "pukul tiga belas lewat lima menit"
    assert said(time_ids(dt.time(0, 0))) == "pukul nol"
    assert said(time_ids(dt.time(12, 0, 59))) == "pukul dua belas"


def test_time_window() -> None:
    assert said(time_window_ids(dt.time(8), dt.time(12))) == "pukul delapan sampai pukul dua belas"
    assert said(time_window_ids(dt.time(9, 15), dt.time(11, 45))) == (
        "pukul sembilan lewat lima belas menit sampai pukul sebelas lewat empat puluh lima menit"
    )


def test_digits() -> None:
    assert digit_ids("3172") == ["digits/3", "digits/1", "digits/7", "digits/2"]
    assert digit_ids("") == []
    assert grouped_digit_ids("31720112") == ["digits/3", "digits/1", "digits/7", "digits/2", "silence/short",
                                             "digits/0", "digits/1", "digits/1", "digits/2"]  # fmt: skip
    for bad in ("12a", "1 2", "١٢"):
        with pytest.raises(ValueError):
            digit_ids(bad)


def test_all_word_ids_are_in_the_catalog() -> None:
    catalog = load_catalog(REPO / "prompts" / "prompts.toml")
    assert ALL_WORD_IDS <= set(catalog.ids())


def test_speak_is_pure() -> None:
    """No I/O and nothing outside the standard library: the dialogue core stays testable."""
    tree = ast.parse(Path(speak.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imported <= {"__future__", "datetime"}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & {"open", "print", "input"}
