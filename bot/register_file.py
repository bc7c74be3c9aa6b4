"""Reading and writing the SPOC register as CSV or Excel (.xlsx), with row-level validation.

:func:`read_register` returns validated :class:`RegisterRow` values or raises
:class:`RegisterFileError` listing *every* problem as ``file:row:column: message`` — the DMO
fixes the sheet once, not one error at a time.  Rows are numbered as a spreadsheet shows them
(the header is row 1).  Columns may come in any order; unknown columns are an error so that a
misspelt column is never silently ignored.
"""

from __future__ import annotations

import csv
import difflib
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from mailbox_rules.calendar import REVIEW_MONTHS_MAX, REVIEW_MONTHS_MIN, review_date_problem
from mailbox_rules.envelope import is_addr_spec, normalise_address
from mailbox_rules.register import ArrangementStatus, in_domains
from mailbox_rules.restrictions import (
    ContactHours,
    Limit,
    parse_channels,
    parse_topics,
    parse_yes_no,
)

COLUMNS = (
    "customer_ref",
    "customer_name",
    "customer_emails",
    "spoc_name",
    "spoc_email",
    "cover_name",
    "cover_email",
    "restricted_to",
    "status",
    "start_date",
    "review_date",
    # Optional restrictions (empty: none).
    "representative_emails",
    "channels",
    "contact_hours",
    "max_contacts",
    "max_issues",
    "subject_matters",
    "acknowledge",
    # Optional lifecycle and letter columns (a file without one keeps what is stored).
    "customer_address",
    "spoc_phone",
    "cover_phone",
    "office_visits",
    "reasons",
    "support_needs",
    "change_required",
    "review_months",
    "lapse_at_review",
    "decided_on",
)
KEPT_WHEN_ABSENT = frozenset(COLUMNS[COLUMNS.index("customer_address") :])
"""Columns that a file may leave out without wiping them: a need-to-know export (without
``reasons`` and ``support_needs``) or an older sheet can be imported again safely.  A column
that is there but empty clears the value."""
RESTRICTED = frozenset({"reasons", "support_needs"})
"""Need-to-know columns (policy §1, §8): left out of exports and listings unless asked for."""
REQUIRED = frozenset(
    {
        "customer_ref",
        "customer_name",
        "customer_emails",
        "spoc_name",
        "spoc_email",
        "status",
        "start_date",
        "review_date",
    }
)
DATE_COLUMNS = frozenset({"start_date", "review_date", "decided_on"})
YES_NO_COLUMNS = frozenset({"acknowledge", "lapse_at_review"})
EXPORT_SUFFIXES = (".csv", ".xlsx")
LIST_SEPARATOR = ";"
MAX_ADDRESSES = 20
MAX_LENGTH = {"customer_ref": 64, "customer_name": 200, "spoc_name": 200, "cover_name": 200}
MAX_TEXT = {
    "customer_address": 500,
    "office_visits": 500,
    "reasons": 4000,
    "support_needs": 2000,
    "change_required": 2000,
}
"""Free-text columns and their limits; all but ``customer_address`` (whose lines are
separated by ``;``) may hold line breaks."""
MAX_ADDRESS_LINES = 8
_PHONE = re.compile(r"[0-9 +()\-]+")
PHONE_DIGITS = (7, 15)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class RegisterRow:
    """One validated register line."""

    row: int
    customer_ref: str
    customer_name: str
    customer_emails: tuple[str, ...]
    spoc_name: str
    spoc_email: str
    cover_name: str | None
    cover_email: str | None
    restricted_to: tuple[str, ...]
    status: ArrangementStatus
    start_date: date
    review_date: date
    representative_emails: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    contact_hours: ContactHours | None = None
    max_contacts: Limit | None = None
    max_issues: Limit | None = None
    subject_matters: tuple[str, ...] = ()
    acknowledge: bool = False
    customer_address: str = ""  # postal, lines separated by ";"
    spoc_phone: str = ""
    cover_phone: str = ""
    office_visits: str = ""
    reasons: str = ""  # restricted
    support_needs: str = ""  # restricted
    change_required: str = ""
    review_months: int | None = None
    lapse_at_review: bool = False
    decided_on: date | None = None
    given: frozenset[str] = field(default=KEPT_WHEN_ABSENT, compare=False)
    """Which of :data:`KEPT_WHEN_ABSENT` the file had: only those are applied on import."""


@dataclass(frozen=True)
class RowError:
    """A problem located in the file: ``file:row:column: message``, or ``file: message`` for
    the file as a whole (``row`` and ``column`` None)."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        if self.row is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.row}:{self.column}: {self.message}"


def _file_error(name: str, message: str) -> RowError:
    return RowError(name, None, None, message)


class RegisterFileError(Exception):
    """The register file was rejected; nothing was imported."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def read_register(
    path: Path,
    *,
    staff_addresses: Iterable[str] = (),
    staff_domains: Iterable[str] = (),
    existing_owner: dict[str, str] | None = None,
    topics: Iterable[str] = (),
    existing_refs: Iterable[str] = (),
    today: date | None = None,
    ignore_columns: Iterable[str] = (),
    refused_refs: Mapping[str, str] | None = None,
    not_officers: Mapping[str, str] | None = None,
    allow_empty: bool = False,
) -> list[RegisterRow]:
    """Read and validate a register file; raise :class:`RegisterFileError` on any problem.

    ``staff_addresses``/``staff_domains`` are organisation addresses a customer address must
    not be; ``existing_owner`` maps addresses already in the database to their customer ref,
    so that one address cannot belong to two customers; ``existing_refs`` are the references
    already in the register, so that ``nc-0001`` is not taken for a new customer beside
    ``NC-0001`` (references are compared ignoring case); ``today``, when given, refuses a
    ``decided_on`` after it (a decision is recorded once made); ``ignore_columns`` may be in
    the file and are not read (the partner's file has the restrictions in plain words too);
    ``refused_refs`` maps references (casefolded) that the file may not hold to why (a partner's
    entry in our register, one of our customers in a partner's file); ``not_officers`` maps
    addresses that may not be a SPOC or cover officer to what they are (spocbot's own
    mailbox, the information mailbox: mail routed there would reach no officer);
    ``allow_empty`` accepts a file with a header and no rows (a partner with nothing in
    force), which a register import refuses.
    """
    name = str(path)
    try:
        sheet = _read_rows(path)
    except RegisterFileError:
        raise
    except UnicodeDecodeError as exc:
        message = (
            f"the file is not UTF-8 text (byte {exc.start}); in Excel use Save As > "
            "'CSV UTF-8 (Comma delimited)', or import the .xlsx itself"
        )
        raise RegisterFileError([_file_error(name, message)]) from exc
    except zipfile.BadZipFile as exc:
        message = "the file is not an Excel workbook (if it is CSV text, name it .csv)"
        raise RegisterFileError([_file_error(name, message)]) from exc
    except Exception as exc:
        raise RegisterFileError([_file_error(name, f"cannot read the file: {exc}")]) from exc
    header, records = sheet.header, sheet.rows
    problem = _header_problem(path, header, records)
    if problem:
        raise RegisterFileError([_file_error(name, problem + sheet.where)])
    validator = _Validator(
        name,
        staff=frozenset(normalise_address(a) for a in staff_addresses),
        staff_domains=frozenset(d.lower() for d in staff_domains),
        existing_owner=existing_owner or {},
        topics=frozenset(topics),
        existing_refs={ref.casefold(): ref for ref in existing_refs},
        today=today,
        refused_refs=refused_refs,
        not_officers={normalise_address(a): why for a, why in (not_officers or {}).items()},
    )
    # A bad header (an unknown, repeated or missing column) is reported, and the rows are
    # still checked with the columns that are there, so that one pass lists every problem.
    columns = _check_header(name, header, validator.errors, frozenset(ignore_columns))
    validator.missing = REQUIRED - set(columns)
    validator.given = KEPT_WHEN_ABSENT & set(columns)
    rows = []
    for number, values in records:
        unusable: dict[str, str] = {}  # column -> why its cell could not be read
        for index, message in sheet.cell_problems.get(number, {}).items():
            named = index < len(columns) and columns[index]
            unusable[columns[index] if named else f"column {index + 1}"] = message
        for index, value in enumerate(values):
            if (value or "").strip() and (index >= len(columns) or not columns[index]):
                validator.error(number, f"column {index + 1}", "value in a column with no header")
        row = validator.row(number, dict(zip(columns, values, strict=False)), unusable)
        if row is not None:
            rows.append(row)
    validator.cross_checks()
    if not rows and not validator.errors and not allow_empty:
        validator.errors.append(_file_error(name, "the file has no register rows, only a header"))
    if validator.errors:
        raise RegisterFileError(validator.errors)
    return rows


def register_warnings(
    path: Path,
    rows: Sequence[RegisterRow],
    *,
    today: date | None = None,
    watched: Iterable[str] | None = None,
) -> list[RowError]:
    """What is allowed but probably wrong in valid rows, for the DMO to check: a review date
    not 3 to 12 months after the start when no decision date is given, a review date already
    past (``today``), a SPOC whose inbox is not watched (``watched``)."""
    name = str(path)
    warnings: list[RowError] = []
    for row in rows:
        if row.decided_on is None and row.status is not ArrangementStatus.CEASED:
            problem = review_date_problem(row.start_date, row.review_date)
            if problem:
                warnings.append(
                    RowError(
                        name,
                        row.row,
                        "review_date",
                        f"{problem} (no decided_on given, so counted from the start date)",
                    )
                )
    if today is not None:
        for row in rows:
            if row.review_date < today and row.status is not ArrangementStatus.CEASED:
                warnings.append(
                    RowError(
                        name,
                        row.row,
                        "review_date",
                        f"the review date {row.review_date} has already passed",
                    )
                )
    if watched is not None:
        inboxes = {normalise_address(a) for a in watched}
        unwatched: dict[str, list[int]] = {}
        for row in rows:
            if row.spoc_email not in inboxes and row.status is not ArrangementStatus.CEASED:
                unwatched.setdefault(row.spoc_email, []).append(row.row)
        for spoc, numbers in unwatched.items():
            others = ", ".join(map(str, numbers[1:]))
            also = f" (also on row{'s' if numbers[2:] else ''} {others})" if others else ""
            warnings.append(
                RowError(
                    name,
                    numbers[0],
                    "spoc_email",
                    f"{spoc} is not a watched mailbox, so what the customer sends the SPOC "
                    f"is not seen and their permitted contact cannot be recorded{also}",
                )
            )
    return sorted(warnings, key=lambda w: w.row or 0)


def write_register(
    path: Path, rows: Iterable[RegisterRow], columns: Sequence[str] = COLUMNS
) -> None:
    """Write rows in the import format (.csv or .xlsx, by the file's suffix), with
    ``columns`` (default: all; a need-to-know export leaves out :data:`RESTRICTED`).

    Nothing written is ever a spreadsheet formula, whatever a customer's name or any other
    value holds (formula injection: ``=HYPERLINK(...)``, ``+``, ``-``, ``@``): in CSV such a
    value gets a leading apostrophe, which spreadsheets show as text and the import removes
    again; in Excel every cell is a text cell (and those get Excel's "quote prefix" so that
    editing them keeps them text).  Importing the exported file gives back the same values.
    """
    lines = [[_cell(row, column) for column in columns] for row in rows]
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows([_escape(value) for value in line] for line in lines)
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "SPOC register"
        for number, line in enumerate([list(columns), *lines], start=1):
            for index, value in enumerate(line, start=1):
                cell = sheet.cell(row=number, column=index, value=value or None)
                cell.number_format = "@"  # Text: what the DMO types stays as typed
                if value:
                    cell.data_type = "s"  # never "f", which openpyxl picks for "=..."
                    cell.quotePrefix = value.startswith(_FORMULA_STARTS)
        book.save(path)
    else:  # callers check the name first (export_register): this is a programming error
        raise ValueError(f"{path}: use a .csv or .xlsx file name")


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""How a cell that a spreadsheet would take for a formula begins (OWASP, CSV injection)."""


def _escape(value: str) -> str:
    """A CSV value that no spreadsheet takes for a formula: ``=1+1`` is written ``'=1+1``
    (and a value that already looks escaped gets one apostrophe more, so that
    :func:`_unescape` gives back exactly what was written)."""
    return "'" + value if value.lstrip("'").startswith(_FORMULA_STARTS) else value


def _unescape(value: str) -> str:
    """A CSV value as it was before :func:`_escape` (a DMO's own ``'=...`` reads the same)."""
    text = value.strip()
    if text.startswith("'") and text.lstrip("'").startswith(_FORMULA_STARTS):
        return text[1:]
    return value


def _cell(row: RegisterRow, column: str) -> str:
    if column == "restricted_to" and row.restricted_to == (row.spoc_email,):
        # Written empty ("the SPOC's address") so that a DMO who changes the SPOC in the
        # exported sheet does not leave the customer restricted to the old SPOC.
        return ""
    value = getattr(row, column)
    if isinstance(value, tuple):
        return LIST_SEPARATOR.join(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


@dataclass
class _Sheet:
    """The cells of a register file as text, with the cells that could not be read."""

    header: list[str]
    rows: list[tuple[int, list[str]]]  # (row number as the sheet shows it, cells)
    cell_problems: dict[int, dict[int, str]] = field(default_factory=dict)  # row -> col -> why
    where: str = ""  # e.g. " (in worksheet 'Notes')", for problems with the header


def _read_rows(path: Path) -> _Sheet:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        # Hand the csv module a stream, not str.splitlines(), which would also split cells at
        # U+2028, form feeds and the like; and count records, not physical lines, so that a
        # quoted cell with a line break in it does not shift every later row number.
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            rows = [(n, [_unescape(v) for v in r]) for n, r in enumerate(reader, start=2)]
        return _Sheet(header, rows)
    if suffix in (".xlsx", ".xlsm"):
        return _read_workbook(path)
    raise RegisterFileError([_file_error(str(path), "the register must be a .csv or .xlsx file")])


def _read_workbook(path: Path) -> _Sheet:
    """The register's worksheet: see :func:`_register_worksheet` for which one.

    Cells are read as Excel saved them (``data_only``); a formula whose result was never
    saved (a file written by a program, not by Excel) is refused, not read as empty.  Text
    columns must hold text: a number (12.5, or one too long for Excel to hold exactly) or a
    TRUE/FALSE cell is refused, since turning it back into text could change it; whole
    numbers (1001) and, in the date columns, date cells are accepted.
    """
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet, where = _register_worksheet(path, book)
        values = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    formulas = load_workbook(path, read_only=True, data_only=False)
    try:
        formula_cells = {
            (number, index)
            for number, cells in enumerate(formulas[sheet.title].iter_rows(), start=1)
            for index, cell in enumerate(cells)
            if getattr(cell, "data_type", None) == "f"
        }
    finally:
        formulas.close()
    header = [_header_text(v) for v in values[0]] if values else []
    columns = [h.strip().lower() for h in header]
    rows: list[tuple[int, list[str]]] = []
    problems: dict[int, dict[int, str]] = {}
    for number, cells in enumerate(values[1:], start=2):
        texts = []
        for index, value in enumerate(cells):
            column = columns[index] if index < len(columns) else ""
            if value is None and (number, index) in formula_cells:
                text, problem = (
                    "",
                    (
                        f"cell {get_column_letter(index + 1)}{number}: formula without a saved "
                        "value: open and save the file in Excel"
                    ),
                )
            else:
                text, problem = _xlsx_text(value, column)
            if problem:
                problems.setdefault(number, {})[index] = problem
            texts.append(text)
        rows.append((number, texts))
    return _Sheet(header, rows, problems, where)


def _register_worksheet(path: Path, book: Any) -> tuple[Any, str]:
    """The worksheet holding the register, and how to name it in messages.

    Hidden worksheets are never read (a hidden first sheet is often an old copy).  Of the
    visible ones: the only one; else the only one whose first row names register columns (a
    workbook may keep notes or lists beside the register); else, if none does, the one the
    workbook opens on (so that the header problem is reported on it, by name).  Two visible
    worksheets that both look like a register are refused: nothing says which is current.
    """
    visible = [ws for ws in book.worksheets if ws.sheet_state == "visible"]
    if not visible:
        raise RegisterFileError([_file_error(str(path), "the workbook has no visible worksheet")])
    if len(visible) == 1:
        return visible[0], ""
    registers = [ws for ws in visible if _looks_like_register(ws)]
    if len(registers) == 1:
        return registers[0], ""
    if len(registers) > 1:
        names = ", ".join(repr(ws.title) for ws in registers)
        raise RegisterFileError(
            [
                _file_error(
                    str(path),
                    f"the workbook has several visible worksheets with register columns "
                    f"({names}), so it does not say which is the register: delete or hide "
                    "all but one",
                )
            ]
        )
    active = book.active if book.active in visible else visible[0]
    return active, f" (in worksheet {active.title!r}; no visible worksheet has register columns)"


def _looks_like_register(sheet: Any) -> bool:
    first = next(sheet.iter_rows(max_row=1, values_only=True), ())
    return any(str(v).strip().lower() in COLUMNS for v in first if v is not None)


def _header_text(value: object) -> str:
    return "" if value is None else str(value)


_WHOLE_NUMBER_LIMIT = 10**15  # Excel keeps 15 significant digits: beyond, digits are lost


def _xlsx_text(value: object, column: str) -> tuple[str, str]:
    """A cell's value as the register's text, and why it cannot be used ("" if it can)."""
    retype = "format the cells as Text and type the value again"
    if value is None:
        return "", ""
    if isinstance(value, str):
        return value, ""
    if isinstance(value, bool):  # before int: True is an int too
        if column in YES_NO_COLUMNS:
            return ("yes" if value else "no"), ""
        return "", f"a TRUE/FALSE cell ({value}) where text is expected: {retype}"
    if isinstance(value, datetime | date):
        if column not in DATE_COLUMNS:
            return "", f"a date cell ({value:%Y-%m-%d}) where text is expected: {retype}"
        if isinstance(value, datetime) and value.time() != time():
            return "", f"a date with a time of day ({value:%Y-%m-%d %H:%M}): give the date only"
        return value.isoformat()[:10], ""  # Excel turns ISO text into dates; accept them
    if isinstance(value, int | float):
        whole = isinstance(value, int) or value.is_integer()
        if whole and abs(value) < _WHOLE_NUMBER_LIMIT:
            return str(int(value)), ""
        shown = f"{value:.15g}" if isinstance(value, float) else str(value)
        if whole:
            return "", (
                f"a number too long for Excel to hold exactly ({shown}): it may not be what "
                f"was typed; {retype}"
            )
        return "", f"a number ({shown}) where text is expected: {retype}"
    return "", f"a {type(value).__name__} cell where text is expected: {retype}"


def _header_problem(path: Path, header: list[str], records: list[tuple[int, list[str]]]) -> str:
    """Why the first row cannot be the header (the file is empty, the columns are separated
    by semicolons...), or "" when it can.  Such a file gets this one message, not a missing-
    column error for every column."""
    cells = [(h or "").strip() for h in header]
    if not any(cells):
        if not any((v or "").strip() for _, values in records for v in values):
            return (
                "the file is empty: it needs a header row naming the columns, then one row "
                "per customer"
            )
        return (
            "the first row is empty: it must be the header row naming the columns "
            f"({', '.join(sorted(REQUIRED, key=COLUMNS.index))}, ...)"
        )
    if any(c.lower() in COLUMNS for c in cells):
        return ""
    for separator, label in ((";", "semicolons"), ("\t", "tabs")):
        parts = [p.strip().lower() for c in cells for p in c.split(separator)]
        if any(p in COLUMNS for p in parts):
            if path.suffix.lower() == ".csv":
                return (
                    f"the columns are separated by {label}: they must be separated by commas "
                    "(in Excel use Save As > 'CSV UTF-8 (Comma delimited)')"
                )
            return (
                f"the header row's column names are in one cell, separated by {label}: "
                "give each column its own cell"
            )
    return (
        "the first row is not a header row: none of its cells is a column name (it must name "
        f"the columns: {', '.join(sorted(REQUIRED, key=COLUMNS.index))}, ...)"
    )


def _check_header(
    name: str, header: list[str], errors: list[RowError], ignored: frozenset[str] = frozenset()
) -> list[str]:
    columns = [h.strip().lower() for h in header]
    for index, column in enumerate(columns, start=1):
        if column and column not in COLUMNS and column not in ignored:
            close = difflib.get_close_matches(column, COLUMNS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            errors.append(RowError(name, 1, column, f"unknown column (column {index}{hint})"))
        if column and columns.count(column) > 1 and columns.index(column) == index - 1:
            errors.append(RowError(name, 1, column, "column appears more than once"))
    for column in COLUMNS:
        if column in REQUIRED and column not in columns:
            errors.append(RowError(name, 1, column, "required column is missing"))
    return columns


class _Validator:
    def __init__(
        self,
        name: str,
        *,
        staff: frozenset[str],
        staff_domains: frozenset[str],
        existing_owner: dict[str, str],
        topics: frozenset[str] = frozenset(),
        existing_refs: dict[str, str] | None = None,
        today: date | None = None,
        refused_refs: Mapping[str, str] | None = None,
        not_officers: Mapping[str, str] | None = None,
    ) -> None:
        self.refused_refs = refused_refs or {}  # casefolded -> why the file may not hold it
        self.not_officers = not_officers or {}  # address -> what it is instead
        self.topics = topics
        self.today = today  # for dates that cannot be in the future (decided_on)
        self.existing_refs = existing_refs or {}  # casefolded -> as in the register
        self.name = name
        self.staff = staff
        self.staff_domains = staff_domains
        self.existing_owner = existing_owner
        self.errors: list[RowError] = []
        self.missing: frozenset[str] = frozenset()  # required columns the header lacks
        self.given: frozenset[str] = KEPT_WHEN_ABSENT  # of those, the columns the file has
        self.seen: list[_Seen] = []  # every non-blank row, valid or not, for cross_checks

    def error(self, row: int, column: str, message: str) -> None:
        self.errors.append(RowError(self.name, row, column, message))

    def row(
        self, number: int, values: dict[str, str], unusable: dict[str, str] | None = None
    ) -> RegisterRow | None:
        """Validate one row; ``unusable`` are its cells that could not be read (a formula
        without a saved value, a number where text belongs), by column, with why."""
        values = {k: (v or "").strip() for k, v in values.items() if k}
        unusable = unusable or {}
        if not any(values.values()) and not unusable:
            return None  # blank lines in spreadsheets are common and harmless
        before = len(self.errors)
        for column, message in unusable.items():
            self.error(number, column, message)
        for column in REQUIRED - self.missing:  # a missing column is one error, on row 1
            if not values.get(column) and column not in unusable:
                self.error(number, column, "required value is empty")
        ref = values.get("customer_ref", "")
        known = self.existing_refs.get(ref.casefold())
        if ref.casefold() in self.refused_refs:
            self.error(number, "customer_ref", self.refused_refs[ref.casefold()])
        elif known is not None and known != ref:
            self.error(
                number,
                "customer_ref",
                f"{ref} differs only in case from {known}, already in the register "
                f"(references are compared ignoring case: write {known} to update that customer)",
            )
        for column, limit in MAX_LENGTH.items():
            text = values.get(column, "")
            if not text.isprintable():
                self.error(number, column, "contains a line break or control character")
            elif len(text) > limit:
                self.error(number, column, f"longer than {limit} characters")
        customer_emails = self.addresses(number, "customer_emails", values)
        if len(customer_emails) > MAX_ADDRESSES:
            self.error(number, "customer_emails", f"more than {MAX_ADDRESSES} addresses")
        spoc_email = self.address(number, "spoc_email", values)
        cover_name, cover_email = values.get("cover_name") or None, None
        if values.get("cover_email"):
            cover_email = self.address(number, "cover_email", values)
            if not cover_name:
                self.error(number, "cover_name", "give the cover officer's name with their email")
        elif cover_name:
            self.error(number, "cover_email", "give the cover officer's email with their name")
        if cover_email and cover_email == spoc_email:
            self.error(number, "cover_email", "the cover officer must not be the SPOC")
        explicit_restricted_to = self.addresses(number, "restricted_to", values)
        restricted_to = explicit_restricted_to or ((spoc_email,) if spoc_email else ())
        status = self.status(number, values.get("status", ""))
        start = self.date(number, "start_date", values)
        review = self.date(number, "review_date", values)
        if start and review and review < start:
            self.error(number, "review_date", f"review date {review} is before start date {start}")
        for address in customer_emails:
            self.check_customer_address(
                number, "customer_emails", address, values.get("customer_ref", "")
            )
        if spoc_email:
            self.check_staff_address(number, "spoc_email", spoc_email)
            self.check_officer_address(number, "spoc_email", spoc_email)
        if cover_email:
            self.check_staff_address(number, "cover_email", cover_email)
            self.check_officer_address(number, "cover_email", cover_email)
        for address in explicit_restricted_to:
            if address in customer_emails:
                self.error(number, "restricted_to", f"{address} is the customer's own address")
            else:
                self.check_staff_address(number, "restricted_to", address)
        representatives = self.addresses(number, "representative_emails", values)
        for address in representatives:
            if address in customer_emails or address in (spoc_email, cover_email):
                self.error(number, "representative_emails", f"{address} is already on this row")
            else:
                self.check_customer_address(
                    number, "representative_emails", address, values.get("customer_ref", "")
                )
        restrictions = self.restrictions(number, values)
        lifecycle = self.lifecycle(number, values)
        decided_on = lifecycle.get("decided_on")
        if decided_on and review and status is not ArrangementStatus.CEASED:
            problem = review_date_problem(decided_on, review)
            if problem:
                self.error(
                    number,
                    "review_date",
                    f"{problem}, the date of the decision in force (decided_on)",
                )
        self.seen.append(
            _Seen(
                row=number,
                customer_ref=values.get("customer_ref", ""),
                customer_emails=customer_emails,
                restricted_to=restricted_to,
                representatives=representatives,
                officers=tuple(
                    (prefix, email, name)
                    for prefix, email, name in (
                        ("spoc", spoc_email, values.get("spoc_name", "")),
                        ("cover", cover_email, cover_name or ""),
                    )
                    if email and name and not (prefix == "cover" and email == spoc_email)
                ),
            )
        )
        if len(self.errors) > before or self.missing:
            return None
        assert spoc_email is not None and status is not None and start and review
        return RegisterRow(
            row=number,
            customer_ref=values["customer_ref"],
            customer_name=values["customer_name"],
            customer_emails=customer_emails,
            spoc_name=values["spoc_name"],
            spoc_email=spoc_email,
            cover_name=cover_name,
            cover_email=cover_email,
            restricted_to=restricted_to,
            status=status,
            start_date=start,
            review_date=review,
            representative_emails=representatives,
            **restrictions,
            **lifecycle,
            given=self.given,
        )

    def lifecycle(self, number: int, values: dict[str, str]) -> dict[str, Any]:
        """The lifecycle and letter columns the file has, parsed (an empty cell clears)."""
        parsed: dict[str, Any] = {}
        for column, limit in MAX_TEXT.items():
            if column not in self.given:
                continue
            text = values.get(column, "").replace("\r\n", "\n")
            if column == "customer_address" and not text.isprintable():
                self.error(
                    number,
                    column,
                    "contains a line break or control character (separate the lines with ;)",
                )
            elif not text.replace("\n", "").isprintable():
                self.error(number, column, "contains a control character")
            elif len(text) > limit:
                self.error(number, column, f"longer than {limit} characters")
            elif column == "customer_address":
                lines = [line.strip() for line in text.split(LIST_SEPARATOR) if line.strip()]
                if len(lines) > MAX_ADDRESS_LINES:
                    self.error(number, column, f"more than {MAX_ADDRESS_LINES} lines")
                text = LIST_SEPARATOR.join(lines)
            parsed[column] = text
        for column in ("spoc_phone", "cover_phone"):
            if column in self.given:
                parsed[column] = self.phone(number, column, values.get(column, ""))
        if parsed.get("cover_phone") and not values.get("cover_email"):
            self.error(number, "cover_phone", "a cover phone needs a cover officer (cover_email)")
        if "review_months" in self.given and values.get("review_months"):
            raw = values["review_months"]
            low, high = REVIEW_MONTHS_MIN, REVIEW_MONTHS_MAX
            if raw.isascii() and raw.isdigit() and low <= int(raw) <= high:  # not "²"
                parsed["review_months"] = int(raw)
            else:
                self.error(
                    number, "review_months", f"{raw!r} is not a whole number from {low} to {high}"
                )
        if "lapse_at_review" in self.given:
            try:
                parsed["lapse_at_review"] = parse_yes_no(values.get("lapse_at_review", ""))
            except ValueError as exc:
                self.error(number, "lapse_at_review", str(exc))
        if "decided_on" in self.given:
            decided_on = self.date(number, "decided_on", values)
            if decided_on and self.today and decided_on > self.today:
                self.error(
                    number,
                    "decided_on",
                    f"{decided_on} is after today ({self.today}): give the date the decision "
                    "was made",
                )
            parsed["decided_on"] = decided_on
        return parsed

    def phone(self, number: int, column: str, raw: str) -> str:
        """A UK-style phone number as written: digits, spaces and ``+()-``, 7 to 15 digits."""
        if not raw:
            return ""
        digits = sum(c.isdigit() for c in raw)
        low, high = PHONE_DIGITS
        if not _PHONE.fullmatch(raw) or not low <= digits <= high:
            self.error(
                number,
                column,
                f"not a phone number: {raw!r} (use digits, spaces and + ( ) -, "
                f"with {low} to {high} digits)",
            )
        return raw

    def restrictions(self, number: int, values: dict[str, str]) -> dict[str, Any]:
        """The optional restriction columns, parsed; each bad one is an error naming it."""
        parsers: dict[str, Callable[[str], Any]] = {
            "channels": lambda text: tuple(sorted(parse_channels(text))),
            "contact_hours": ContactHours.parse,
            "max_contacts": Limit.parse,
            "max_issues": Limit.parse,
            "subject_matters": lambda text: tuple(sorted(parse_topics(text, self.topics))),
            "acknowledge": parse_yes_no,
        }
        parsed: dict[str, Any] = {}
        for column, parse in parsers.items():
            text = values.get(column, "")
            if not text and column != "acknowledge":
                continue
            try:
                parsed[column] = parse(text)
            except ValueError as exc:
                self.error(number, column, str(exc))
        return parsed

    def address(self, number: int, column: str, values: dict[str, str]) -> str | None:
        raw = values.get(column, "")
        if not raw:
            return None
        address = normalise_address(raw)
        if not is_addr_spec(address):
            self.error(number, column, f"not an email address: {raw!r}")
            return None
        return address

    def addresses(self, number: int, column: str, values: dict[str, str]) -> tuple[str, ...]:
        found: list[str] = []
        for raw in values.get(column, "").split(LIST_SEPARATOR):
            if not raw.strip():
                continue
            address = normalise_address(raw)
            if not is_addr_spec(address):
                self.error(number, column, f"not an email address: {raw.strip()!r}")
            elif address not in found:
                found.append(address)
        return tuple(found)

    def status(self, number: int, raw: str) -> ArrangementStatus | None:
        if not raw:
            return None
        try:
            return ArrangementStatus(raw.strip().lower())
        except ValueError:
            allowed = ", ".join(s.value for s in ArrangementStatus)
            self.error(number, "status", f"unknown status {raw!r} (use one of: {allowed})")
            return None

    def date(self, number: int, column: str, values: dict[str, str]) -> date | None:
        raw = values.get(column, "")
        if not raw:
            return None
        try:
            if not _ISO_DATE.fullmatch(raw):  # fromisoformat also takes 2026-W05-1, 20260126
                raise ValueError
            return date.fromisoformat(raw)
        except ValueError:
            self.error(number, column, f"not a date in YYYY-MM-DD form: {raw!r}")
            return None

    def check_customer_address(self, number: int, column: str, address: str, ref: str) -> None:
        if address in self.staff or in_domains(address, self.staff_domains):
            self.error(number, column, f"{address} is a staff address, not a customer's")
        elif not address.rpartition("@")[0].isascii():
            # The domain may be internationalised (it is kept in its ASCII form); the part
            # before the @ cannot be written in ASCII, and mail servers without SMTPUTF8
            # refuse it, so every acknowledgement to it would fail.
            self.error(
                number,
                column,
                f"{address}: the part before the @ has non-ASCII characters, so mail to it "
                "(acknowledgements) cannot be sent reliably; give an ASCII address",
            )
        owner = self.existing_owner.get(address)
        if owner and owner.casefold() != ref.casefold():  # a case-only change is reported once
            self.error(number, column, f"{address} already belongs to customer {owner}")

    def check_staff_address(self, number: int, column: str, address: str) -> None:
        """Officers and permitted addresses are the organisation's, never a customer's."""
        if not address.isascii():
            self.error(number, column, f"{address} has non-ASCII characters; use its ASCII form")
        owner = self.existing_owner.get(address)
        if owner:
            self.error(number, column, f"{address} is the address of customer {owner}")
        if self.staff_domains and not in_domains(address, self.staff_domains):
            self.error(
                number,
                column,
                f"{address} is not in a staff domain ([organisation] staff_domains)",
            )

    def check_officer_address(self, number: int, column: str, address: str) -> None:
        """A SPOC or cover officer is a person with their own inbox (policy §5)."""
        what = self.not_officers.get(address)
        if what:
            self.error(
                number,
                column,
                f"{address} is {what}, not an officer's own address: mail routed to it would "
                "reach no officer",
            )

    def cross_checks(self) -> None:
        """Problems between rows, checked on every row, including rows with errors of their
        own, whatever order the rows come in: a repeated reference; an address given for two
        customers; an officer who is also a customer or has two names; a representative who
        is another row's customer or officer, or represents two customers; a customer
        restricted to another customer's (or representative's) address."""
        first_ref: dict[str, tuple[str, int]] = {}  # casefolded ref -> (as written, row)
        customers: dict[str, tuple[str, int]] = {}  # address -> (ref, row), first given
        representatives: dict[str, tuple[str, int]] = {}
        officers: dict[str, tuple[str, str, int]] = {}  # email -> (name, "spoc"|"cover", row)
        for row in self.seen:
            for address in row.customer_emails:
                customers.setdefault(address, (row.customer_ref, row.row))
            for address in row.representatives:
                representatives.setdefault(address, (row.customer_ref, row.row))
            for prefix, email, name in row.officers:
                officers.setdefault(
                    email, (name, prefix.upper() if prefix == "spoc" else prefix, row.row)
                )

        def other(owner: tuple[str, int] | None, row: _Seen) -> bool:
            return owner is not None and owner[0].casefold() != row.customer_ref.casefold()

        for row in self.seen:
            earlier = first_ref.get(row.customer_ref.casefold())
            if earlier is not None:
                written, on_row = earlier
                also = "" if written == row.customer_ref else f" as {written}, ignoring case"
                self.error(
                    row.row,
                    "customer_ref",
                    f"{row.customer_ref} also appears on row {on_row}{also}",
                )
            elif row.customer_ref:
                first_ref[row.customer_ref.casefold()] = (row.customer_ref, row.row)
            for address in row.customer_emails:
                first = customers[address]
                if other(first, row) and first[1] < row.row:
                    self.error(
                        row.row,
                        "customer_emails",
                        f"{address} is also given for {first[0]} on row {first[1]}",
                    )
                if address in officers:
                    self.error(
                        row.row,
                        "customer_emails",
                        f"{address} is a staff address, not a customer's",
                    )
            for address in row.representatives:
                owner = customers.get(address)
                if other(owner, row):
                    assert owner is not None
                    self.error(
                        row.row,
                        "representative_emails",
                        f"{address} is an address of customer {owner[0]} (row {owner[1]}), "
                        "so it cannot also be a representative",
                    )
                first = representatives[address]
                if other(first, row) and first[1] < row.row:
                    self.error(
                        row.row,
                        "representative_emails",
                        f"{address} is also the representative of {first[0]} on row "
                        f"{first[1]} (a representative's mail must belong to one customer)",
                    )
                if address in officers:
                    _, role, on_row = officers[address]
                    self.error(
                        row.row,
                        "representative_emails",
                        f"{address} is a staff address ({role} officer on row {on_row}), not "
                        "a representative's",
                    )
            for address in row.restricted_to:
                owner = customers.get(address)
                if other(owner, row):
                    assert owner is not None
                    self.error(
                        row.row,
                        "restricted_to",
                        f"{address} is an address of customer {owner[0]}",
                    )
                represented = representatives.get(address)
                if represented is not None:
                    self.error(
                        row.row,
                        "restricted_to",
                        f"{address} is the address of a representative of customer "
                        f"{represented[0]}",
                    )
            for prefix, email, _ in row.officers:
                # (The customer's own row is told too, whichever comes first: see above.)
                if email in customers and customers[email][1] < row.row:
                    self.error(row.row, f"{prefix}_email", f"{email} is also a customer address")
        officer_names: dict[str, tuple[str, int]] = {}
        for row in self.seen:
            for prefix, email, name in row.officers:
                known = officer_names.get(email)
                if known and known[0] != name:
                    self.error(
                        row.row,
                        f"{prefix}_name",
                        f"{email} is named {known[0]!r} on row {known[1]}",
                    )
                officer_names.setdefault(email, (name, row.row))
        self.errors.sort(key=lambda e: e.row or 0)


@dataclass(frozen=True)
class _Seen:
    """What the cross-row checks need of one row, whether or not the row itself is valid."""

    row: int
    customer_ref: str
    customer_emails: tuple[str, ...]
    restricted_to: tuple[str, ...]
    officers: tuple[tuple[str, str, str], ...]  # ("spoc" | "cover", email, name)
    representatives: tuple[str, ...] = ()
