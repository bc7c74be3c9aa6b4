"""Register import and export: CSV and Excel, every problem reported as file:row:column."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.register_file import (
    COLUMNS,
    RegisterFileError,
    RegisterRow,
    read_register,
    register_warnings,
    write_register,
)
from mailbox_rules import ArrangementStatus

HEADER = ",".join(COLUMNS[:11])  # the original columns; restrictions are optional
AMELIA = "amelia.hart@northvale-homes.example"
CHLOE = "chloe.price@northvale-homes.example"
HOUSING = "housing@northvale-homes.example"

# customer_ref,customer_name,customer_emails,spoc_name,spoc_email,cover_name,cover_email,
# restricted_to,status,start_date,review_date
MARGARET = (
    "NV-1001,Margaret Ellis,margaret.ellis@mailbox.example;M.Ellis@Work.Example,"
    f"Amelia Hart,{AMELIA},Chloe Price,{CHLOE},,active,2026-03-16,2027-03-16"
)
TOM = (
    "NV-1002,Tom Fraser,tom.fraser@freemail.example,"
    f"Amelia Hart,{AMELIA},,,{AMELIA};{HOUSING},warning,2026-05-04,2027-05-04"
)


def csv_file(tmp_path: Path, *lines: str, header: str = HEADER, name: str = "register.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join((header, *lines)) + "\n", encoding="utf-8")
    return path


def errors_of(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(RegisterFileError) as caught:
        read_register(path, **kwargs)  # type: ignore[arg-type]
    return [str(e) for e in caught.value.errors]


def test_valid_rows_are_read_with_normalised_addresses(tmp_path: Path) -> None:
    rows = read_register(csv_file(tmp_path, MARGARET, TOM))

    assert [
        RegisterRow(
            row=2,
            customer_ref="NV-1001",
            customer_name="Margaret Ellis",
            customer_emails=("margaret.ellis@mailbox.example", "m.ellis@work.example"),
            spoc_name="Amelia Hart",
            spoc_email=AMELIA,
            cover_name="Chloe Price",
            cover_email=CHLOE,
            restricted_to=(AMELIA,),
            status=ArrangementStatus.ACTIVE,
            start_date=date(2026, 3, 16),
            review_date=date(2027, 3, 16),
        ),
        RegisterRow(
            row=3,
            customer_ref="NV-1002",
            customer_name="Tom Fraser",
            customer_emails=("tom.fraser@freemail.example",),
            spoc_name="Amelia Hart",
            spoc_email=AMELIA,
            cover_name=None,
            cover_email=None,
            restricted_to=(AMELIA, HOUSING),
            status=ArrangementStatus.WARNING,
            start_date=date(2026, 5, 4),
            review_date=date(2027, 5, 4),
        ),
    ] == rows


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_write_then_read_round_trips(tmp_path: Path, suffix: str) -> None:
    original = read_register(csv_file(tmp_path, MARGARET, TOM))
    exported = tmp_path / f"export{suffix}"

    write_register(exported, original)

    assert original == read_register(exported)


def test_write_refuses_other_file_types(tmp_path: Path) -> None:
    """Not a RegisterFileError, which means "the file was not imported"."""
    with pytest.raises(ValueError, match=r"use a \.csv or \.xlsx file name"):
        write_register(tmp_path / "register.txt", [])


def test_restricted_to_defaults_to_the_spoc_address(tmp_path: Path) -> None:
    (row,) = read_register(csv_file(tmp_path, MARGARET))

    assert (AMELIA,) == row.restricted_to


def test_columns_may_come_in_any_order(tmp_path: Path) -> None:
    columns = list(reversed(COLUMNS[:11]))
    values = list(reversed(MARGARET.split(",")))
    path = csv_file(tmp_path, ",".join(values), header=",".join(columns))

    assert read_register(csv_file(tmp_path, MARGARET, name="plain.csv")) == read_register(path)


def test_header_case_and_spaces_do_not_matter(tmp_path: Path) -> None:
    header = ",".join(f" {c.upper()} " for c in COLUMNS[:11])

    (row,) = read_register(csv_file(tmp_path, MARGARET, header=header))

    assert "NV-1001" == row.customer_ref


def test_optional_columns_may_be_left_out(tmp_path: Path) -> None:
    header = ",".join(
        c for c in COLUMNS[:11] if c not in ("cover_name", "cover_email", "restricted_to")
    )
    line = (
        "NV-1001,Margaret Ellis,margaret.ellis@mailbox.example,"
        f"Amelia Hart,{AMELIA},active,2026-03-16,2027-03-16"
    )

    (row,) = read_register(csv_file(tmp_path, line, header=header))

    assert (None, None, (AMELIA,)) == (row.cover_name, row.cover_email, row.restricted_to)


def test_blank_lines_are_ignored_and_row_numbers_still_match_the_sheet(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "", MARGARET, ",,,,,,,,,,", "", TOM, "")

    assert [3, 6] == [row.row for row in read_register(path)]


def test_byte_order_mark_from_excel_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\r\n{MARGARET}\r\n".encode())

    assert ["NV-1001"] == [row.customer_ref for row in read_register(path)]


def test_quoted_cell_with_a_line_break_does_not_shift_later_row_numbers(tmp_path: Path) -> None:
    broken_name = MARGARET.replace("Margaret Ellis", '"Margaret\nEllis"')
    bad_tom = TOM.replace("warning", "paused")

    assert [
        f"{tmp_path / 'register.csv'}:2:customer_name: contains a line break or control character",
        f"{tmp_path / 'register.csv'}:3:status: unknown status 'paused' "
        "(use one of: active, warning, cease_and_desist, ceased)",
    ] == errors_of(csv_file(tmp_path, broken_name, bad_tom))


def test_unicode_line_separator_inside_a_cell_does_not_split_the_row(tmp_path: Path) -> None:
    """U+2028 is a line break too: refused in a name, and the row is still one row."""
    path = csv_file(tmp_path, MARGARET.replace("Margaret Ellis", "Margaret\u2028Ellis"), TOM)

    assert [f"{path}:2:customer_name: contains a line break or control character"] == errors_of(
        path
    )


def test_every_bad_row_is_reported_at_once_with_sheet_row_numbers(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        MARGARET,
        TOM.replace("warning", "paused"),
        MARGARET.replace("NV-1001", "NV-1003")
        .replace("2026-03-16", "16/03/2026")
        .replace("margaret.ellis@mailbox.example;M.Ellis@Work.Example", "c@x.example"),
        TOM.replace("NV-1002", "NV-1004").replace("tom.fraser@freemail.example", "not-an-address"),
    )
    name = str(path)

    assert [
        f"{name}:3:status: unknown status 'paused' "
        "(use one of: active, warning, cease_and_desist, ceased)",
        f"{name}:4:start_date: not a date in YYYY-MM-DD form: '16/03/2026'",
        f"{name}:5:customer_emails: not an email address: 'not-an-address'",
    ] == errors_of(path)


def _one_error(tmp_path: Path, line: str, **kwargs: object) -> str:
    errors = errors_of(csv_file(tmp_path, line), **kwargs)
    assert 1 == len(errors), errors
    return errors[0].removeprefix(f"{tmp_path / 'register.csv'}:")


SINGLE_ERRORS = {
    "unknown-status": (
        MARGARET.replace("active", "Suspended"),
        "2:status: unknown status 'Suspended' "
        "(use one of: active, warning, cease_and_desist, ceased)",
    ),
    "impossible-date": (
        MARGARET.replace("2027-03-16", "2027-02-30"),
        "2:review_date: not a date in YYYY-MM-DD form: '2027-02-30'",
    ),
    "date-with-time": (
        MARGARET.replace("2026-03-16", "2026-03-16T09:00"),
        "2:start_date: not a date in YYYY-MM-DD form: '2026-03-16T09:00'",
    ),
    "iso-week-date": (
        MARGARET.replace("2026-03-16", "2026-W05-1"),
        "2:start_date: not a date in YYYY-MM-DD form: '2026-W05-1'",
    ),
    "basic-format-date": (
        MARGARET.replace("2027-03-16", "20270316"),
        "2:review_date: not a date in YYYY-MM-DD form: '20270316'",
    ),
    "ordinal-date": (
        MARGARET.replace("2027-03-16", "2027-075"),
        "2:review_date: not a date in YYYY-MM-DD form: '2027-075'",
    ),
    "non-ascii-local-part": (
        MARGARET.replace("M.Ellis@Work.Example", "mär.ellis@work.example"),
        "2:customer_emails: mär.ellis@work.example: the part before the @ has non-ASCII "
        "characters, so mail to it (acknowledgements) cannot be sent reliably; give an ASCII "
        "address",
    ),
    "review-before-start": (
        MARGARET.replace("2027-03-16", "2026-03-15"),
        "2:review_date: review date 2026-03-15 is before start date 2026-03-16",
    ),
    "bad-customer-address": (
        MARGARET.replace("M.Ellis@Work.Example", "m.ellis at work"),
        "2:customer_emails: not an email address: 'm.ellis at work'",
    ),
    "bad-spoc-address": (
        MARGARET.replace(AMELIA, "amelia.hart@"),
        "2:spoc_email: not an email address: 'amelia.hart@'",
    ),
    "bad-restricted-to": (
        TOM.replace(f"{AMELIA};{HOUSING}", f"{AMELIA};housing"),
        "2:restricted_to: not an email address: 'housing'",
    ),
    "empty-required-value": (
        MARGARET.replace("Margaret Ellis", ""),
        "2:customer_name: required value is empty",
    ),
    "cover-email-without-name": (
        MARGARET.replace("Chloe Price", ""),
        "2:cover_name: give the cover officer's name with their email",
    ),
    "cover-name-without-email": (
        MARGARET.replace(CHLOE, ""),
        "2:cover_email: give the cover officer's email with their name",
    ),
    "cover-is-the-spoc": (
        MARGARET.replace(CHLOE, AMELIA),
        "2:cover_email: the cover officer must not be the SPOC",
    ),
}


@pytest.mark.parametrize(("line", "expected"), SINGLE_ERRORS.values(), ids=SINGLE_ERRORS.keys())
def test_row_error_names_row_column_and_problem(tmp_path: Path, line: str, expected: str) -> None:
    assert expected == _one_error(tmp_path, line)


def test_customer_address_listed_as_staff_address_is_rejected(tmp_path: Path) -> None:
    line = MARGARET.replace("M.Ellis@Work.Example", "dev.patel@northvale-homes.example")

    assert (
        "2:customer_emails: dev.patel@northvale-homes.example is a staff address, not a customer's"
        == _one_error(tmp_path, line, staff_addresses=["Dev.Patel@Northvale-Homes.Example"])
    )


def test_customer_address_in_a_staff_domain_is_rejected(tmp_path: Path) -> None:
    line = MARGARET.replace("M.Ellis@Work.Example", "dev.patel@northvale-homes.example")

    assert (
        "2:customer_emails: dev.patel@northvale-homes.example is a staff address, not a customer's"
        == _one_error(tmp_path, line, staff_domains=["Northvale-Homes.Example"])
    )


def test_customer_address_in_a_subdomain_of_a_staff_domain_is_rejected(tmp_path: Path) -> None:
    line = MARGARET.replace("M.Ellis@Work.Example", "x@mail.test.example")

    assert "2:customer_emails: x@mail.test.example is a staff address, not a customer's" == (
        _one_error(tmp_path, line, staff_domains=["test.example", "northvale-homes.example"])
    )


def test_a_domain_that_only_ends_like_a_staff_domain_is_not_staff(tmp_path: Path) -> None:
    line = MARGARET.replace("M.Ellis@Work.Example", "x@latest.example")

    (row,) = read_register(csv_file(tmp_path, line))

    assert "x@latest.example" in row.customer_emails


def test_an_internationalised_domain_is_accepted_in_its_ascii_form(tmp_path: Path) -> None:
    line = MARGARET.replace("M.Ellis@Work.Example", "m.ellis@bücher.example")

    (row,) = read_register(csv_file(tmp_path, line))

    assert "m.ellis@xn--bcher-kva.example" in row.customer_emails


def test_officers_in_a_subdomain_of_a_staff_domain_are_accepted(tmp_path: Path) -> None:
    (row,) = read_register(
        csv_file(tmp_path, with_spoc(TOM, "ben@mail.northvale-homes.example")),
        staff_domains=["northvale-homes.example"],
    )

    assert "ben@mail.northvale-homes.example" == row.spoc_email


def test_customer_address_that_is_an_officer_in_the_same_file_is_rejected(tmp_path: Path) -> None:
    """Chloe is cover officer on row 2, so she cannot be a customer on row 3."""
    path = csv_file(tmp_path, MARGARET, TOM.replace("tom.fraser@freemail.example", CHLOE))

    assert [f"{path}:3:customer_emails: {CHLOE} is a staff address, not a customer's"] == (
        errors_of(path)
    )


def test_address_already_owned_by_another_customer_is_rejected(tmp_path: Path) -> None:
    assert "2:customer_emails: m.ellis@work.example already belongs to customer NV-0042" == (
        _one_error(tmp_path, MARGARET, existing_owner={"m.ellis@work.example": "NV-0042"})
    )


def test_address_already_owned_by_the_same_customer_is_fine(tmp_path: Path) -> None:
    rows = read_register(
        csv_file(tmp_path, MARGARET), existing_owner={"m.ellis@work.example": "NV-1001"}
    )

    assert ["NV-1001"] == [row.customer_ref for row in rows]


def test_address_given_for_two_customers_in_one_file_is_rejected(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path, MARGARET, TOM.replace("tom.fraser@freemail.example", "m.ellis@work.example")
    )

    assert [
        f"{path}:3:customer_emails: m.ellis@work.example is also given for NV-1001 on row 2"
    ] == (errors_of(path))


def test_duplicate_customer_ref_is_rejected(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MARGARET, TOM.replace("NV-1002", "NV-1001"))

    assert [f"{path}:3:customer_ref: NV-1001 also appears on row 2"] == errors_of(path)


def test_duplicate_customer_ref_is_found_ignoring_case(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MARGARET, TOM.replace("NV-1002", "nv-1001"))

    assert [f"{path}:3:customer_ref: nv-1001 also appears on row 2 as NV-1001, ignoring case"] == (
        errors_of(path)
    )


def test_reference_differing_only_in_case_from_the_register_is_refused(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MARGARET.replace("NV-1001", "nv-1001"), TOM)

    assert [
        f"{path}:2:customer_ref: nv-1001 differs only in case from NV-1001, already in the "
        "register (references are compared ignoring case: write NV-1001 to update that customer)"
    ] == errors_of(
        path,
        existing_refs=["NV-1001", "NV-1002"],
        existing_owner={"m.ellis@work.example": "NV-1001"},
    )


def test_one_officer_address_with_two_names_is_rejected(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MARGARET, TOM.replace("Amelia Hart", "A. Hart"))

    assert [f"{path}:3:spoc_name: {AMELIA} is named 'Amelia Hart' on row 2"] == errors_of(path)


def test_missing_required_column_is_reported_on_the_header_row(tmp_path: Path) -> None:
    columns = [c for c in COLUMNS[:11] if c != "review_date"]
    path = csv_file(tmp_path, "", header=",".join(columns))

    assert [f"{path}:1:review_date: required column is missing"] == errors_of(path)


def test_unknown_column_is_reported_with_its_position_and_the_nearest_name(
    tmp_path: Path,
) -> None:
    path = csv_file(tmp_path, MARGARET + ",x,y", header=HEADER + ",review_dat,notes")

    assert [
        f"{path}:1:review_dat: unknown column (column 12; did you mean review_date?)",
        f"{path}:1:notes: unknown column (column 13)",
    ] == errors_of(path)


def test_unknown_column_does_not_hide_the_rows_problems(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path, MARGARET + ",x", TOM.replace("warning", "paused") + ",y", header=HEADER + ",notes"
    )

    assert [
        f"{path}:1:notes: unknown column (column 12)",
        f"{path}:3:status: unknown status 'paused' "
        "(use one of: active, warning, cease_and_desist, ceased)",
    ] == errors_of(path)


def test_missing_column_is_one_error_not_an_empty_value_on_every_row(tmp_path: Path) -> None:
    columns = HEADER.split(",")
    drop = columns.index("status")
    header = ",".join(c for i, c in enumerate(columns) if i != drop)
    lines = [
        ",".join(c for i, c in enumerate(line.split(",")) if i != drop)
        for line in (
            MARGARET,
            TOM.replace("2026-05-04", "4 May 2026"),
        )
    ]
    path = csv_file(tmp_path, *lines, header=header)

    assert [
        f"{path}:1:status: required column is missing",
        f"{path}:3:start_date: not a date in YYYY-MM-DD form: '4 May 2026'",
    ] == errors_of(path)


def test_duplicate_reference_is_reported_on_a_row_with_other_errors(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MARGARET, TOM.replace("NV-1002", "NV-1001").replace("warning", "x"))

    assert [
        f"{path}:3:status: unknown status 'x' "
        "(use one of: active, warning, cease_and_desist, ceased)",
        f"{path}:3:customer_ref: NV-1001 also appears on row 2",
    ] == errors_of(path)


def test_shared_address_is_reported_on_a_row_with_other_errors(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        MARGARET.replace("2027-03-16", "2027-13-16"),
        TOM.replace("tom.fraser@freemail.example", "m.ellis@work.example").replace(
            "2027-05-04", "2026-01-01"
        ),
    )

    assert [
        f"{path}:2:review_date: not a date in YYYY-MM-DD form: '2027-13-16'",
        f"{path}:3:review_date: review date 2026-01-01 is before start date 2026-05-04",
        f"{path}:3:customer_emails: m.ellis@work.example is also given for NV-1001 on row 2",
    ] == errors_of(path)


def test_repeated_column_is_reported_once(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MARGARET + ",Active", header=HEADER + ",status")

    assert [f"{path}:1:status: column appears more than once"] == errors_of(path)


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    path = csv_file(tmp_path)

    assert [f"{path}: the file has no register rows, only a header"] == errors_of(path)


def test_unsupported_file_type_is_a_file_problem_without_row_or_column(tmp_path: Path) -> None:
    path = tmp_path / "register.ods"
    path.write_bytes(b"")

    assert [f"{path}: the register must be a .csv or .xlsx file"] == errors_of(path)


def test_unreadable_file_is_reported_not_raised_raw(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_bytes(HEADER.encode() + b"\n\xff\xfe\n")

    (error,) = errors_of(path)

    assert error.startswith(f"{path}: the file is not UTF-8 text")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_empty_file_says_it_is_empty_not_that_every_column_is_missing(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"register{suffix}"
    if suffix == ".csv":
        path.write_bytes(b"")
    else:
        _xlsx(path, [])

    assert [
        f"{path}: the file is empty: it needs a header row naming the columns, "
        "then one row per customer"
    ] == errors_of(path)


def test_empty_first_row_is_named_as_the_missing_header(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MARGARET, header="")

    assert [
        f"{path}: the first row is empty: it must be the header row naming the columns "
        "(customer_ref, customer_name, customer_emails, spoc_name, spoc_email, status, "
        "start_date, review_date, ...)"
    ] == errors_of(path)


def test_data_in_the_first_row_is_named_as_the_missing_header(tmp_path: Path) -> None:
    path = csv_file(tmp_path, TOM, header=MARGARET)

    (error,) = errors_of(path)

    assert error.startswith(f"{path}: the first row is not a header row")


def test_semicolon_separated_csv_gets_one_hint_about_commas(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MARGARET.replace(",", ";"), header=HEADER.replace(",", ";"))

    assert [
        f"{path}: the columns are separated by semicolons: they must be separated by commas "
        "(in Excel use Save As > 'CSV UTF-8 (Comma delimited)')"
    ] == errors_of(path)


def test_csv_text_named_xlsx_says_it_is_not_a_workbook(tmp_path: Path) -> None:
    path = csv_file(tmp_path, MARGARET, name="register.xlsx")

    assert [
        f"{path}: the file is not an Excel workbook (if it is CSV text, name it .csv)"
    ] == errors_of(path)


def _xlsx(path: Path, header: list[str], *rows: list[object]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_excel_date_cells_and_numbers_are_accepted(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "register.xlsx",
        [
            "customer_ref",
            "customer_name",
            "customer_emails",
            "spoc_name",
            "spoc_email",
            "status",
            "start_date",
            "review_date",
        ],
        [
            1001,
            "Margaret Ellis",
            "margaret.ellis@mailbox.example",
            "Amelia Hart",
            AMELIA,
            "active",
            datetime(2026, 3, 16),
            date(2027, 3, 16),
        ],
    )

    (row,) = read_register(path)

    assert ("1001", date(2026, 3, 16), date(2027, 3, 16)) == (
        row.customer_ref,
        row.start_date,
        row.review_date,
    )


def test_excel_errors_use_sheet_row_numbers_and_skip_empty_rows(tmp_path: Path) -> None:
    good = [
        "NV-1001",
        "Margaret Ellis",
        "margaret.ellis@mailbox.example",
        "Amelia Hart",
        AMELIA,
        "active",
        "2026-03-16",
        "2027-03-16",
    ]
    bad = [
        "NV-1002",
        "Tom Fraser",
        "tom.fraser@freemail.example",
        "Amelia Hart",
        AMELIA,
        "paused",
        "2026-03-16",
        "2027-03-16",
    ]
    header = [
        "customer_ref",
        "customer_name",
        "customer_emails",
        "spoc_name",
        "spoc_email",
        "status",
        "start_date",
        "review_date",
    ]
    path = _xlsx(tmp_path / "register.xlsx", header, good, [None] * 8, bad)

    assert [
        f"{path}:4:status: unknown status 'paused' "
        "(use one of: active, warning, cease_and_desist, ceased)"
    ] == errors_of(path)


def with_spoc(line: str, email: str) -> str:
    cells = line.split(",")
    cells[COLUMNS.index("spoc_email")] = email
    cells[COLUMNS.index("restricted_to")] = ""
    return ",".join(cells)


def test_officer_address_that_belongs_to_a_customer_is_refused(tmp_path: Path) -> None:
    """Otherwise breaches by one customer would be forwarded to another customer."""
    path = csv_file(tmp_path, with_spoc(TOM, "x@mail.example"))

    errors = errors_of(path, existing_owner={"x@mail.example": "NV-9"})

    assert [f"{path}:2:spoc_email: x@mail.example is the address of customer NV-9"] == errors


def test_officers_and_permitted_addresses_must_be_in_staff_domains_when_set(
    tmp_path: Path,
) -> None:
    path = csv_file(tmp_path, with_spoc(TOM, "ben@gmail.example"))

    errors = errors_of(path, staff_domains=["northvale-homes.example"])

    assert [
        f"{path}:2:spoc_email: ben@gmail.example is not in a staff domain "
        "([organisation] staff_domains)"
    ] == errors


def test_a_spoc_or_cover_cannot_be_spocbots_own_or_the_information_mailbox(
    tmp_path: Path,
) -> None:
    bot = "spocbot@northvale-homes.example"
    line = MARGARET.replace(AMELIA, "SpocBot@Northvale-Homes.Example").replace(CHLOE, HOUSING)
    path = csv_file(tmp_path, line, TOM)
    not_officers = {bot: "spocbot's own address", HOUSING: "the information mailbox"}

    errors = errors_of(path, not_officers=not_officers)

    assert [
        f"{path}:2:spoc_email: {bot} is spocbot's own address, not an officer's own address: "
        "mail routed to it would reach no officer",
        f"{path}:2:cover_email: {HOUSING} is the information mailbox, not an officer's own "
        "address: mail routed to it would reach no officer",
    ] == errors
    # The information mailbox may still be a permitted route (TOM's restricted_to).
    assert 1 == len(read_register(csv_file(tmp_path, TOM), not_officers=not_officers))


def test_customer_cannot_be_restricted_to_their_own_address(tmp_path: Path) -> None:
    own = TOM.split(",")[2]
    line = TOM.split(",")
    line[COLUMNS.index("restricted_to")] = own
    path = csv_file(tmp_path, ",".join(line))

    assert [f"{path}:2:restricted_to: {own} is the customer's own address"] == errors_of(path)


def test_overlong_reference_and_values_without_a_header_are_refused(tmp_path: Path) -> None:
    path = csv_file(tmp_path, TOM.replace("NV-1002", "R" * 65) + ",stray")

    assert [
        f"{path}:2:column 12: value in a column with no header",
        f"{path}:2:customer_ref: longer than 64 characters",
    ] == errors_of(path)


def test_representative_owned_by_another_customer_is_reported_on_its_own_column(
    tmp_path: Path,
) -> None:
    header = HEADER + ",representative_emails"
    path = csv_file(tmp_path, MARGARET + ",tom.fraser@freemail.example", header=header)

    errors = errors_of(path, existing_owner={"tom.fraser@freemail.example": "NV-1002"})

    assert [
        f"{path}:2:representative_emails: tom.fraser@freemail.example already belongs to "
        "customer NV-1002"
    ] == errors


def test_a_review_date_already_past_is_a_warning_except_for_a_ceased_arrangement(
    tmp_path: Path,
) -> None:
    path = csv_file(tmp_path, MARGARET, TOM.replace("warning", "ceased"))
    rows = read_register(path)

    warnings = register_warnings(path, rows, today=date(2027, 6, 1))

    assert [f"{path}:2:review_date: the review date 2027-03-16 has already passed"] == [
        str(w) for w in warnings
    ]


def test_a_spoc_whose_inbox_is_not_watched_is_one_warning_naming_every_row(
    tmp_path: Path,
) -> None:
    other = (
        MARGARET.replace("NV-1001", "NV-1003")
        .replace("margaret.ellis@", "x@")
        .replace("M.Ellis@", "y@")
    )
    path = csv_file(tmp_path, MARGARET, TOM, other)
    rows = read_register(path)

    warnings = register_warnings(path, rows, watched=[HOUSING])

    assert [
        f"{path}:2:spoc_email: {AMELIA} is not a watched mailbox, so what the customer sends "
        "the SPOC is not seen and their permitted contact cannot be recorded (also on rows 3, 4)"
    ] == [str(w) for w in warnings]
    assert [] == register_warnings(path, rows, watched=[AMELIA.upper()])


REP_HEADER = HEADER + ",representative_emails"


def with_rep(line: str, representatives: str) -> str:
    return f"{line},{representatives}"


def test_a_representative_who_is_another_rows_customer_is_refused_in_any_order(
    tmp_path: Path,
) -> None:
    before = csv_file(
        tmp_path,
        with_rep(MARGARET, "tom.fraser@freemail.example"),
        with_rep(TOM, ""),
        header=REP_HEADER,
        name="before.csv",
    )
    after = csv_file(
        tmp_path,
        with_rep(TOM, ""),
        with_rep(MARGARET, "tom.fraser@freemail.example"),
        header=REP_HEADER,
        name="after.csv",
    )

    assert [
        f"{before}:2:representative_emails: tom.fraser@freemail.example is an address of "
        "customer NV-1002 (row 3), so it cannot also be a representative"
    ] == errors_of(before)
    assert [
        f"{after}:3:representative_emails: tom.fraser@freemail.example is an address of "
        "customer NV-1002 (row 2), so it cannot also be a representative"
    ] == errors_of(after)


def test_a_representative_who_is_an_officer_in_the_file_is_refused(tmp_path: Path) -> None:
    path = csv_file(tmp_path, with_rep(TOM, CHLOE), with_rep(MARGARET, ""), header=REP_HEADER)

    assert [
        f"{path}:2:representative_emails: {CHLOE} is a staff address (cover officer on row 3), "
        "not a representative's"
    ] == errors_of(path)


def test_one_representative_for_two_customers_is_refused(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        with_rep(MARGARET, "ken@help.example"),
        with_rep(TOM, "Ken@Help.Example"),
        header=REP_HEADER,
    )

    assert [
        f"{path}:3:representative_emails: ken@help.example is also the representative of "
        "NV-1001 on row 2 (a representative's mail must belong to one customer)"
    ] == errors_of(path)


def test_restricted_to_another_customers_address_is_refused_in_any_order(
    tmp_path: Path,
) -> None:
    cells = TOM.split(",")
    cells[COLUMNS.index("restricted_to")] = "m.ellis@work.example"
    path = csv_file(tmp_path, ",".join(cells), MARGARET)

    assert [f"{path}:2:restricted_to: m.ellis@work.example is an address of customer NV-1001"] == [
        e for e in errors_of(path) if ":restricted_to:" in e
    ]


def test_restricted_to_a_representatives_address_is_refused(tmp_path: Path) -> None:
    cells = TOM.split(",")
    cells[COLUMNS.index("restricted_to")] = "ken@help.example"
    path = csv_file(
        tmp_path,
        with_rep(",".join(cells), ""),
        with_rep(MARGARET, "ken@help.example"),
        header=REP_HEADER,
    )

    assert [
        f"{path}:2:restricted_to: ken@help.example is the address of a representative of "
        "customer NV-1001"
    ] == [e for e in errors_of(path) if ":restricted_to:" in e]


XLSX_HEADER = [
    "customer_ref",
    "customer_name",
    "customer_emails",
    "spoc_name",
    "spoc_email",
    "status",
    "start_date",
    "review_date",
    "acknowledge",
]


def xlsx_row(**changes: object) -> list[object]:
    row: dict[str, object] = {
        "customer_ref": "NV-1001",
        "customer_name": "Margaret Ellis",
        "customer_emails": "margaret.ellis@mailbox.example",
        "spoc_name": "Amelia Hart",
        "spoc_email": AMELIA,
        "status": "active",
        "start_date": "2026-03-16",
        "review_date": "2027-03-16",
        "acknowledge": "no",
    }
    row.update(changes)
    return list(row.values())


def test_a_formula_without_a_saved_value_is_refused_naming_the_cell(tmp_path: Path) -> None:
    """openpyxl (and other programs) write formulas without their result; read as data they
    would be empty cells, silently."""
    path = _xlsx(
        tmp_path / "register.xlsx",
        XLSX_HEADER,
        xlsx_row(customer_emails='=LOWER("Margaret.Ellis@mailbox.example")'),
    )

    assert [
        f"{path}:2:customer_emails: cell C2: formula without a saved value: open and save the "
        "file in Excel"
    ] == errors_of(path)


TYPED_CELLS = {
    "decimal-number": (
        {"customer_ref": 12.5},
        "2:customer_ref: a number (12.5) where text is expected: format the cells as Text and "
        "type the value again",
    ),
    "number-too-long-to-be-exact": (
        {"customer_ref": 12345678901234569216},
        "2:customer_ref: a number too long for Excel to hold exactly (1.23456789012346e+19): it "
        "may not be what was typed; format the cells as Text and type the value again",
    ),
    "true-in-a-text-column": (
        {"customer_name": True},
        "2:customer_name: a TRUE/FALSE cell (True) where text is expected: format the cells as "
        "Text and type the value again",
    ),
    "date-in-a-text-column": (
        {"customer_ref": datetime(2026, 3, 4)},
        "2:customer_ref: a date cell (2026-03-04) where text is expected: format the cells as "
        "Text and type the value again",
    ),
    "date-with-a-time": (
        {"start_date": datetime(2026, 3, 16, 9, 30)},
        "2:start_date: a date with a time of day (2026-03-16 09:30): give the date only",
    ),
}


@pytest.mark.parametrize(("changes", "expected"), TYPED_CELLS.values(), ids=TYPED_CELLS.keys())
def test_excel_cells_that_are_not_text_are_refused_not_stringified(
    tmp_path: Path, changes: dict[str, object], expected: str
) -> None:
    path = _xlsx(tmp_path / "register.xlsx", XLSX_HEADER, xlsx_row(**changes))

    assert [f"{path}:{expected}"] == errors_of(path)


def test_excel_whole_numbers_and_true_false_acknowledge_are_read_exactly(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "register.xlsx", XLSX_HEADER, xlsx_row(customer_ref=1001, acknowledge=True)
    )

    (row,) = read_register(path)

    assert ("1001", True) == (row.customer_ref, row.acknowledge)


def _workbook(path: Path, sheets: list[tuple[str, str, list[list[object]]]], active: int) -> Path:
    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for title, state, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        sheet.sheet_state = state
    book.active = active
    book.save(path)
    return path


OLD = [XLSX_HEADER, xlsx_row(customer_ref="OLD-1")]
NEW = [XLSX_HEADER, xlsx_row(customer_ref="NV-1001")]
NOTES = [["These are my notes"]]


def test_a_hidden_first_worksheet_is_not_imported(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "register.xlsx", [("Old", "hidden", OLD), ("Register", "visible", NEW)], 1
    )

    assert ["NV-1001"] == [row.customer_ref for row in read_register(path)]


def test_the_visible_worksheet_with_register_columns_is_imported(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "register.xlsx", [("Notes", "visible", NOTES), ("Register", "visible", NEW)], 0
    )

    assert ["NV-1001"] == [row.customer_ref for row in read_register(path)]


def test_a_header_problem_names_the_worksheet_when_there_are_several(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "register.xlsx", [("Notes", "visible", NOTES), ("More", "visible", NOTES)], 1
    )

    [error] = errors_of(path)

    assert error.endswith("(in worksheet 'More'; no visible worksheet has register columns)")


def test_two_visible_registers_in_one_workbook_are_refused(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "register.xlsx",
        [("Old", "hidden", OLD), ("A", "visible", NEW), ("B", "visible", OLD)],
        1,
    )

    assert [
        f"{path}: the workbook has several visible worksheets with register columns ('A', "
        "'B'), so it does not say which is the register: delete or hide all but one"
    ] == errors_of(path)


DANGEROUS = (
    MARGARET.replace("NV-1001", "=1+1")
    .replace("Margaret Ellis", '"=HYPERLINK(""http://evil.example"",""x"")"')
    .replace("Chloe Price", "+Chloe Price"),
    TOM.replace("NV-1002", "@SUM(A1)").replace("Tom Fraser", "-Tom Fraser"),
    TOM.replace("NV-1002", "''=already quoted")  # a reference that truly starts with '=
    .replace("Tom Fraser", "'Tom")
    .replace("tom.fraser@freemail.example", "t2@freemail.example"),
)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_never_writes_a_formula_and_round_trips_such_values(
    tmp_path: Path, suffix: str
) -> None:
    original = read_register(csv_file(tmp_path, *DANGEROUS))
    exported = tmp_path / f"export{suffix}"

    write_register(exported, original)

    assert ["=1+1", "@SUM(A1)", "'=already quoted"] == [r.customer_ref for r in original]
    assert original == read_register(exported)


def test_csv_export_quotes_formula_like_values_with_an_apostrophe(tmp_path: Path) -> None:
    exported = tmp_path / "export.csv"

    write_register(exported, read_register(csv_file(tmp_path, *DANGEROUS)))

    cells = [c for line in exported.read_text().splitlines()[1:] for c in line.split(",")]
    assert [] == [c for c in cells if c.lstrip('"').startswith(("=", "+", "-", "@"))]
    assert "'=1+1" in cells and "''=already quoted" in cells


def test_xlsx_export_has_only_text_cells(tmp_path: Path) -> None:
    import zipfile

    from openpyxl import load_workbook

    exported = tmp_path / "export.xlsx"
    write_register(exported, read_register(csv_file(tmp_path, *DANGEROUS)))

    sheet_xml = zipfile.ZipFile(exported).read("xl/worksheets/sheet1.xml").decode()
    book = load_workbook(exported)
    kinds = {c.data_type for row in book.active.iter_rows() for c in row if c.value is not None}
    assert ("<f>" in sheet_xml, {"s"}) == (False, kinds)
    assert book.active["A2"].quotePrefix
