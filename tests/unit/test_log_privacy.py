"""What the logs say about people: addresses as ``[logging] addresses`` allows, and never a
message's text, its subject (subjects are personal: see :mod:`bot.log_privacy`) or a secret.

A watcher pass on the fakes, at DEBUG, with an acknowledgement sent to the customer (their
address at a log site), a message whose processing fails with an exception quoting its
sender and subject, and an SMTP refusal echoing an address (logged by the daemon)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import bot.watcher as watcher_module
from bot import log_privacy
from bot.cli import _PassLogger
from bot.config import AddressesInLogs
from bot.log_privacy import address, scrub, stack_without_messages
from bot.mail.ports import DeliveryRejected
from tests.unit.test_watcher_with_fakes import CONFIG, Harness, enable_acknowledgements

CUSTOMER = "casey@mail.example"
SUBJECT = "Diagnosis-7731 and my tenancy"
BODY = "Body-text-5512: please fix the boiler"
PASSWORD = "pw-SPOCBOT-9c41e2"
QUOTING = f"cannot read From: Casey <{CUSTOMER}>, Subject: {SUBJECT}"
ADDRESSES = "\r\n".join(
    (f"From: Casey <{CUSTOMER}>", "To: info@homes.example", "Date: Thu, 3 Dec 2026 09:00:00 +0000")
)


def message(n: int, subject: str = SUBJECT) -> bytes:
    return (
        f"{ADDRESSES}\r\nSubject: {subject}\r\nMessage-ID: <p{n}@mail.example>\r\n\r\n{BODY}\r\n"
    ).encode()


@pytest.fixture(autouse=True)
def default_mode() -> Iterator[None]:
    yield
    log_privacy.configure(AddressesInLogs.PARTIAL)


def logged_pass(
    tmp_path: Path,
    mode: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    monkeypatch.setenv("SPOCBOT_LOGTEST_PASSWORD", PASSWORD)
    config = CONFIG.replace(
        'role = "information"\n',
        'role = "information"\npassword_env = "SPOCBOT_LOGTEST_PASSWORD"\n',
    )
    (tmp_path / "spocbot.toml").write_text(f'{config}\n[logging]\naddresses = "{mode}"\n')
    h = Harness(tmp_path)  # rewrites the file: so the mode is set as start-up would
    log_privacy.configure(mode)
    log_privacy.install([caplog.handler])  # as `spocbot` does for its stderr handler
    caplog.set_level(logging.DEBUG)
    enable_acknowledgements(h)

    real_parse = watcher_module.parse_envelope

    def parse(header: bytes, **kwargs: object) -> object:
        if b"<p2@" in header:
            raise ValueError(QUOTING)  # as parsers do: the values in the message
        return real_parse(header, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(watcher_module, "parse_envelope", parse)
    h.info.deliver(message(1))
    h.info.deliver(message(2))
    h.watcher.run_pass()
    h.sender.fail_with = DeliveryRejected(f"550 5.7.1 <{CUSTOMER}>: relaying denied")
    h.info.deliver(message(3, subject=f"Re: {SUBJECT}"))
    _PassLogger()(h.watcher.run_pass())  # the daemon's log lines for a pass
    assert 2 <= len(h.sender.sent), "an acknowledgement and a forward were sent"
    return caplog.text


@pytest.mark.parametrize(
    ("mode", "shown", "hidden"),
    [
        ("partial", "c…@mail.example", CUSTOMER),
        ("domain", "…@mail.example", "casey"),
        ("none", "acknowledgement 2 sent (…)", "mail.example"),
    ],
)
def test_addresses_in_the_logs_are_only_what_the_setting_allows(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    shown: str,
    hidden: str,
) -> None:
    text = logged_pass(tmp_path, mode, caplog, monkeypatch)

    assert shown in text
    assert hidden not in text.lower()


def test_with_full_the_customers_address_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert f"acknowledgement 2 sent ({CUSTOMER})" in logged_pass(
        tmp_path, "full", caplog, monkeypatch
    )


@pytest.mark.parametrize("mode", ["full", "partial", "domain", "none"])
def test_no_body_subject_or_secret_is_logged_in_any_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    text = logged_pass(tmp_path, mode, caplog, monkeypatch)

    assert "could not be processed (ValueError); quarantined" in text  # the failure is there
    assert "relaying denied" in text  # and the refusal
    assert [] == [s for s in ("Diagnosis-7731", "Body-text-5512", PASSWORD) if s in text]


def test_start_up_applies_the_configured_mode(tmp_path: Path) -> None:
    from bot.bootstrap import build_app

    (tmp_path / "spocbot.toml").write_text(f'{CONFIG}\n[logging]\naddresses = "domain"\n')
    build_app(tmp_path / "spocbot.toml")

    assert (AddressesInLogs.DOMAIN, "…@mail.example") == (log_privacy.mode(), address(CUSTOMER))


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("full", "jo.bloggs@example.org"),
        ("partial", "j…@example.org"),
        ("domain", "…@example.org"),
        ("none", "…"),
    ],
)
def test_one_address_in_each_mode(mode: str, expected: str) -> None:
    assert expected == address("jo.bloggs@example.org", AddressesInLogs(mode))


def test_scrub_reduces_every_address_in_free_text() -> None:
    text = "550 <a.b@x.example> and c@y.example: unknown; see https://x.example/help"
    assert "550 <a…@x.example> and …@y.example: unknown; see https://x.example/help" == (
        scrub(text, AddressesInLogs.PARTIAL).replace("c…", "…")
    )
    assert text == scrub(text, AddressesInLogs.FULL)


def test_a_stack_without_messages_keeps_where_and_what_type_but_not_the_text() -> None:
    def fail() -> None:
        try:
            raise KeyError("inner " + SUBJECT)
        except KeyError as exc:
            raise ValueError("outer " + CUSTOMER) from exc

    try:
        fail()
    except ValueError as exc:
        stack = stack_without_messages(exc)

    assert ("KeyError" in stack, "builtins.ValueError" in stack, "in fail" in stack) == (
        True,
        True,
        True,
    )
    assert (SUBJECT in stack, CUSTOMER in stack) == (False, False)


def test_watch_once_prints_error_texts_with_addresses_reduced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import _print_pass
    from bot.watcher import PassReport

    report = PassReport(errors=[f"forward 3 refused: 550 5.1.1 <{CUSTOMER}>: unknown"])
    _print_pass(report)

    err = capsys.readouterr().err
    assert ("c…@mail.example" in err, CUSTOMER in err) == (True, False)
