"""The register's lifecycle and letter columns: read, validated (file:row:column), written."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from openpyxl import Workbook

from bot.register_file import (
    COLUMNS,
    RESTRICTED,
    read_register,
    register_warnings,
    write_register,
)
from tests.unit.test_register_file import HEADER, MARGARET, csv_file, errors_of

NEW = (
    "customer_address,spoc_phone,cover_phone,office_visits,reasons,support_needs,"
    "change_required,review_months,lapse_at_review,decided_on"
)
FULL_HEADER = f"{HEADER},{NEW}"
# Margaret: start 2026-03-16, review 2027-03-16.
VALUES = (
    '"12 Alder Row; Northvale; NV1 2AB",01632 960 123,+44 (0)1632 960456,'
    "No visits to the Market Street office,Forty calls in one week to five teams,"
    "Prefers letters in large print,Write only to the SPOC,6,yes,2026-09-16"
)


def lifecycle_file(tmp_path: Path, values: str = VALUES, header: str = FULL_HEADER) -> Path:
    return csv_file(tmp_path, f"{MARGARET},{values}", header=header)


def replaced(position: int, value: str) -> str:
    """VALUES with the new column at ``position`` (0 = customer_address) set to ``value``."""
    cells = ['"12 Alder Row; Northvale; NV1 2AB"', *VALUES.split('",', 1)[1].split(",")]
    cells[position] = value
    return ",".join(cells)


def test_the_new_columns_are_read_as_written(tmp_path: Path) -> None:
    [row] = read_register(lifecycle_file(tmp_path))

    assert (
        "12 Alder Row;Northvale;NV1 2AB",
        "01632 960 123",
        "+44 (0)1632 960456",
        "No visits to the Market Street office",
        "Forty calls in one week to five teams",
        "Prefers letters in large print",
        "Write only to the SPOC",
        6,
        True,
        date(2026, 9, 16),
    ) == (
        row.customer_address,
        row.spoc_phone,
        row.cover_phone,
        row.office_visits,
        row.reasons,
        row.support_needs,
        row.change_required,
        row.review_months,
        row.lapse_at_review,
        row.decided_on,
    )


def test_a_file_without_the_new_columns_gives_none_of_them(tmp_path: Path) -> None:
    [row] = read_register(csv_file(tmp_path, MARGARET))

    assert frozenset() == row.given


def test_a_file_says_which_new_columns_it_has(tmp_path: Path) -> None:
    path = csv_file(tmp_path, f"{MARGARET},01632 960 123", header=f"{HEADER},spoc_phone")

    [row] = read_register(path)

    assert frozenset({"spoc_phone"}) == row.given


def test_a_phone_with_letters_is_refused_naming_row_and_column(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(1, "01632 CALL ME"))

    assert [
        f"{path}:2:spoc_phone: not a phone number: '01632 CALL ME' (use digits, spaces and "
        "+ ( ) -, with 7 to 15 digits)"
    ] == errors_of(path)


def test_a_phone_with_too_few_digits_is_refused(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(2, "123 45"))

    assert ["cover_phone"] == [e.split(":")[2] for e in errors_of(path)]


def test_a_phone_with_too_many_digits_is_refused(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(1, "0163 2960 1234 5678"))

    assert ["spoc_phone"] == [e.split(":")[2] for e in errors_of(path)]


def test_review_months_outside_3_to_12_is_refused(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(7, "13"))

    assert [f"{path}:2:review_months: '13' is not a whole number from 3 to 12"] == errors_of(path)


def test_review_months_must_be_a_whole_number(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(7, "six"))

    assert [f"{path}:2:review_months: 'six' is not a whole number from 3 to 12"] == errors_of(path)


def test_review_months_in_superscript_digits_are_refused(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(7, "²"))

    assert [f"{path}:2:review_months: '²' is not a whole number from 3 to 12"] == errors_of(path)


def test_a_decision_after_today_is_refused(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path)  # decided_on 2026-09-16

    assert [
        f"{path}:2:decided_on: 2026-09-16 is after today (2026-09-15): give the date the "
        "decision was made"
    ] == errors_of(path, today=date(2026, 9, 15))


def test_a_decision_made_today_is_read(tmp_path: Path) -> None:
    [row] = read_register(lifecycle_file(tmp_path), today=date(2026, 9, 16))

    assert date(2026, 9, 16) == row.decided_on


def test_lapse_at_review_must_be_yes_or_no(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(8, "maybe"))

    assert [f"{path}:2:lapse_at_review: 'maybe' is not yes or no"] == errors_of(path)


def test_decided_on_must_be_an_iso_date(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(9, "16/09/2026"))

    assert [f"{path}:2:decided_on: not a date in YYYY-MM-DD form: '16/09/2026'"] == errors_of(path)


def test_a_review_date_more_than_12_months_after_the_decision_is_refused(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(9, "2026-03-15"))  # review 2027-03-16

    assert [
        f"{path}:2:review_date: the review date 2027-03-16 must be 3 to 12 months after "
        "2026-03-15, so between 2026-06-15 and 2027-03-15, the date of the decision in force "
        "(decided_on)"
    ] == errors_of(path)


def test_a_review_date_under_3_months_after_the_decision_is_refused(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(9, "2027-01-01"))

    assert ["review_date"] == [e.split(":")[2] for e in errors_of(path)]


def test_a_ceased_arrangement_is_not_checked_against_its_decision(tmp_path: Path) -> None:
    ceased = MARGARET.replace(",active,", ",ceased,")
    path = csv_file(tmp_path, f"{ceased},{replaced(9, '2020-01-01')}", header=FULL_HEADER)

    assert date(2020, 1, 1) == read_register(path)[0].decided_on


def test_without_a_decision_date_a_review_far_from_the_start_is_a_warning(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MARGARET.replace("2027-03-16", "2027-06-16"))

    assert [
        f"{path}:2:review_date: the review date 2027-06-16 must be 3 to 12 months after "
        "2026-03-16, so between 2026-06-16 and 2027-03-16 (no decided_on given, so counted "
        "from the start date)"
    ] == [str(w) for w in register_warnings(path, read_register(path))]


def test_a_review_12_months_after_the_start_is_no_warning(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MARGARET)

    assert [] == register_warnings(path, read_register(path))


def test_a_cover_phone_without_a_cover_officer_is_refused(tmp_path: Path) -> None:
    no_cover = MARGARET.replace("Chloe Price,chloe.price@northvale-homes.example", ",")
    path = csv_file(tmp_path, f"{no_cover},{VALUES}", header=FULL_HEADER)

    assert [
        f"{path}:2:cover_phone: a cover phone needs a cover officer (cover_email)"
    ] == errors_of(path)


def test_reasons_longer_than_the_limit_are_refused(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(4, "x" * 4001))

    assert [f"{path}:2:reasons: longer than 4000 characters"] == errors_of(path)


def test_reasons_may_hold_line_breaks(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(4, '"First line\nSecond line"'))

    assert "First line\nSecond line" == read_register(path)[0].reasons


def test_an_address_with_a_line_break_is_refused_pointing_to_semicolons(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, replaced(0, '"12 Alder Row\nNorthvale"'))

    assert [
        f"{path}:2:customer_address: contains a line break or control character "
        "(separate the lines with ;)"
    ] == errors_of(path)


def test_an_empty_new_column_clears_its_value(tmp_path: Path) -> None:
    path = lifecycle_file(tmp_path, ",,,,,,,,,")

    [row] = read_register(path)

    assert ("", None, False, None, True) == (
        row.reasons,
        row.review_months,
        row.lapse_at_review,
        row.decided_on,
        "reasons" in row.given,
    )


def test_export_writes_formula_like_reasons_as_text_and_reads_them_back(tmp_path: Path) -> None:
    [row] = read_register(lifecycle_file(tmp_path, replaced(4, "=HYPERLINK(1)")))
    exported = tmp_path / "out.csv"

    write_register(exported, [row])

    assert "'=HYPERLINK(1)" in exported.read_text()
    assert "=HYPERLINK(1)" == read_register(exported)[0].reasons


def test_export_and_import_give_back_every_new_value(tmp_path: Path) -> None:
    [row] = read_register(lifecycle_file(tmp_path))
    for suffix in (".csv", ".xlsx"):
        exported = tmp_path / f"out{suffix}"
        write_register(exported, [row])

        assert [row] == read_register(exported)


def test_an_export_without_restricted_columns_has_no_reasons_header(tmp_path: Path) -> None:
    [row] = read_register(lifecycle_file(tmp_path))
    exported = tmp_path / "out.csv"

    write_register(exported, [row], [c for c in COLUMNS if c not in RESTRICTED])

    header = exported.read_text().splitlines()[0].split(",")
    assert (False, False, True) == (
        "reasons" in header,
        "support_needs" in header,
        "change_required" in header,
    )


def test_excel_true_in_lapse_at_review_reads_as_yes(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([*HEADER.split(","), "lapse_at_review"])
    sheet.append([*MARGARET.split(","), True])
    path = tmp_path / "r.xlsx"
    book.save(path)

    assert read_register(path)[0].lapse_at_review is True
