"""`spocbot letter send` end to end on the embedded mail servers: sent now through the
outbox, and a repeat sends nothing (the real Postfix/Dovecot version is in
tests/integration/test_letters_dovecot.py)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.bootstrap import build_app
from bot.cli import main
from bot.lifecycle import end
from tests.lettertest import LETTERS_SECTION, set_fields
from tests.unit.test_letters import REGISTER, cli, write_config


def test_send_delivers_now_and_a_repeat_says_already_sent(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "register.csv").write_text(REGISTER)
    assert 0 == cli(config, "register", "import", str(tmp_path / "register.csv"))[0]
    set_fields(build_app(config), "NV-1")
    send = ("letter", "send", "introduction", "--customer", "NV-1", "--as-of", "2026-12-03")

    first = cli(config, *send)
    second = cli(config, *send)
    _, listed, _ = cli(config, "letter", "list", "--json")

    assert (0, 0) == (first[0], second[0]), first[2] + second[2]
    assert "Sent the introduction letter for NV-1" in first[1]
    assert "Already sent" in second[1]
    assert [("introduction", "sent", "zoe@mail.example")] == [
        (r["kind"], r["status"], r["to"]) for r in json.loads(listed)
    ]


# -- refusals, warnings and broken templates, as the operator sees them ---------------------


def registered(root: Path, extra: str | None = None, **fields: object) -> Path:
    config = write_config(root) if extra is None else write_config(root, LETTERS_SECTION + extra)
    (root / "register.csv").write_text(REGISTER)
    assert 0 == cli(config, "register", "import", str(root / "register.csv"))[0]
    set_fields(build_app(config), "NV-1", **fields)
    return config


def render(config: Path, kind: str = "introduction", *extra: str) -> Result:
    return CliRunner().invoke(
        main,
        [
            "--config",
            str(config),
            "letter",
            "render",
            kind,
            "--format",
            "eml",
            "--out",
            str(config.parent / "out.eml"),
            *extra,
        ],
    )


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("introduction", ()),
        ("cease-and-desist", ()),
        ("cover-notice", ("--from", "2026-12-21", "--to", "2027-01-02")),
    ],
)
def test_no_in_force_letter_is_sent_once_the_arrangement_ended(
    tmp_path: Path, kind: str, extra: tuple[str, ...]
) -> None:
    config = registered(tmp_path)
    end(build_app(config).factory, "NV-1", on=date(2026, 12, 4), today=date(2026, 12, 4))

    code, out, err = cli(
        config, "letter", "send", kind, "--customer", "NV-1", "--as-of", "2026-12-04", *extra
    )

    assert (1, "", True) == (code, out, "the arrangement has ended on 2026-12-04" in err)


def test_a_cease_and_desist_letter_is_not_sent_without_a_cease_and_desist(tmp_path: Path) -> None:
    config = registered(tmp_path)

    code, _, err = cli(
        config, "letter", "send", "cease-and-desist", "--customer", "NV-1", "--as-of", "2026-12-04"
    )

    assert (1, True) == (code, "no cease and desist is in force" in err)


def test_render_takes_the_customer_reference_in_any_case(tmp_path: Path) -> None:
    config = registered(tmp_path)

    result = render(config, "introduction", "--customer", "nv-1", "--as-of", "2026-12-03")

    assert (0, True) == (result.exit_code, "letter for NV-1" in result.stdout)


def test_render_warns_when_the_appeal_deadline_has_passed(tmp_path: Path) -> None:
    config = registered(tmp_path)

    result = render(config, "introduction", "--customer", "NV-1", "--as-of", "2027-01-05")

    assert (0, True) == (
        result.exit_code,
        "Warning: the appeal deadline, 31 December 2026" in result.stderr,
    )


def test_reasons_with_a_control_character_are_refused_by_decide(tmp_path: Path) -> None:
    config = registered(tmp_path, status="warning", decided_on=None)

    code, _, err = cli(
        config,
        "arrangement",
        "decide",
        "NV-1",
        "--agreed",
        "--on",
        "2026-12-01",
        "--reasons",
        "Sent 40 emails\x01 in a week",
        "--change-required",
        "Stop",
        "--review-months",
        "6",
    )

    assert (1, True) == (code, "the reasons: contains a control character (U+0001" in err)


def test_a_control_character_already_recorded_still_renders_as_word(tmp_path: Path) -> None:
    config = registered(tmp_path, reasons="Sent 40 emails\x01 in a week")

    result = CliRunner().invoke(
        main,
        [
            "--config",
            str(config),
            "letter",
            "render",
            "introduction",
            "--customer",
            "NV-1",
            "--format",
            "docx",
            "--out",
            str(tmp_path / "out.docx"),
            "--as-of",
            "2026-12-03",
        ],
    )

    assert 0 == result.exit_code, result.output


@pytest.mark.parametrize(
    ("name", "body", "problem"),
    [
        ("introduction.txt.j2", "# Title\n{{ 1 / 0 }}\n", "ZeroDivisionError"),
        (
            "introduction.txt.j2",
            "# Title\n{% include 'introduction.txt.j2' %}\n",
            "includes or extends itself",
        ),
        ("introduction.txt.j2", b"# Title\n\xff\xfe\n", "is not UTF-8 text"),
        ("_email.html.j2", "{% for %}", "has an error on line 1"),
    ],
    ids=["division-by-zero", "self-include", "not-utf-8", "html-syntax-error"],
)
def test_a_broken_custom_template_is_an_error_naming_it(
    tmp_path: Path, name: str, body: str | bytes, problem: str
) -> None:
    (tmp_path / "t").mkdir()
    path = tmp_path / "t" / name
    path.write_bytes(body) if isinstance(body, bytes) else path.write_text(body)
    config = registered(tmp_path, 'templates_dir = "t"\n')

    result = render(config, "introduction", "--customer", "NV-1", "--as-of", "2026-12-03")

    assert (1, True, True) == (
        result.exit_code,
        f"the letter template {path}" in result.stderr,
        problem in result.stderr,
    ), result.stderr


def test_a_missing_templates_dir_is_a_configuration_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, LETTERS_SECTION + 'templates_dir = "nowhere"\n')

    code, _, err = cli(config, "letter", "list")

    assert (1, True) == (code, "letters.templates_dir" in err)
