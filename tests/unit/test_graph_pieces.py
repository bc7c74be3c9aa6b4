"""The pure parts of the Graph backend: summary headers, automatic replies, configuration."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.mail.graph import message_size, summary_header
from bot.mail.outlook_absences import replies_on
from mailbox_rules import parse_envelope

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_a_summary_header_carries_what_the_first_look_needs() -> None:
    item = {
        "from": {"emailAddress": {"name": "Ellis, Margaret", "address": "m@customer.example"}},
        "sender": {"emailAddress": {"name": "", "address": "m@customer.example"}},
        "toRecipients": [{"emailAddress": {"name": "Housing", "address": "housing@h.example"}}],
        "ccRecipients": [{"emailAddress": {"address": "repairs@h.example"}}],
        "internetMessageId": "<abc@customer.example>",
        "sentDateTime": "2026-12-03T10:00:00Z",
        "subject": "Leak",
    }

    envelope = parse_envelope(summary_header(item), found_in="housing@h.example", received_at=NOW)

    assert ("m@customer.example",) == envelope.from_addresses
    assert {"housing@h.example", "repairs@h.example"} <= set(envelope.recipients)
    assert "<abc@customer.example>" == envelope.message_id
    assert "Leak" == envelope.subject


def test_nothing_in_a_graph_field_can_add_a_header_line() -> None:
    item = {
        "from": {"emailAddress": {"name": "x\r\nBcc: evil@x.example", "address": "a@b.example"}},
        "subject": "Hi\r\nX-Spocbot-Kind: breach-forward",
    }

    lines = summary_header(item).decode().split("\r\n")

    assert ["From", "Subject"] == [line.split(":")[0] for line in lines if line]


@pytest.mark.parametrize(
    ("setting", "away"),
    [
        (None, False),
        ({"status": "disabled"}, False),
        ({"status": "alwaysEnabled"}, True),
        (
            {
                "status": "scheduled",
                "scheduledStartDateTime": {
                    "dateTime": "2026-12-03T08:00:00.0000000",
                    "timeZone": "UTC",
                },
                "scheduledEndDateTime": {
                    "dateTime": "2026-12-04T08:00:00.0000000",
                    "timeZone": "UTC",
                },
            },
            True,
        ),
        (
            {
                "status": "scheduled",
                "scheduledStartDateTime": {"dateTime": "2026-12-04T08:00:00", "timeZone": "UTC"},
                "scheduledEndDateTime": {"dateTime": "2026-12-05T08:00:00", "timeZone": "UTC"},
            },
            False,
        ),
        (
            {
                "status": "scheduled",
                "scheduledStartDateTime": {
                    "dateTime": "2026-12-03T11:30:00",
                    "timeZone": "GMT Standard Time",
                },
                "scheduledEndDateTime": {
                    "dateTime": "2026-12-03T12:30:00",
                    "timeZone": "GMT Standard Time",
                },
            },
            True,
        ),
        ({"status": "scheduled"}, False),  # no window: not away
    ],
)
def test_automatic_replies_say_who_is_away(setting: dict[str, object] | None, away: bool) -> None:
    assert away == replies_on(setting, NOW)


def test_the_size_comes_from_the_message_size_property() -> None:
    item = {"singleValueExtendedProperties": [{"id": "Integer 0xe08", "value": "5120"}]}

    assert 5120 == message_size(item)
    assert 0 == message_size({})


def _write(tmp_path: Path, graph: str) -> Path:
    path = tmp_path / "spocbot.toml"
    path.write_text(
        '[organisation]\nname = "H"\ndmo_email = "dmo@h.example"\nbot_address = "bot@h.example"\n'
        '[storage]\ndatabase_url = "sqlite:///x.db"\nevidence_dir = "ev"\n'
        '[backend]\nkind = "graph"\n'
        + graph
        + '\n[[mailboxes]]\naddress = "housing@h.example"\nrole = "information"\n'
        '[[mailboxes]]\naddress = "bot@h.example"\nrole = "bot"\n'
    )
    return path


def test_graph_mailboxes_watch_inbox_and_junk_by_default(tmp_path: Path) -> None:
    settings = load_settings(
        _write(tmp_path, '[graph]\ntenant_id = "t"\nclient_id = "c"\ncertificate_path = "a.pem"')
    )

    assert ("inbox", "junkemail") == settings.mailboxes[0].folders
    assert tmp_path / "a.pem" == settings.graph.certificate_path  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        ("", "[graph] is required when [backend] kind = 'graph'"),
        (
            '[graph]\ntenant_id = "t"\nclient_id = "c"',
            "graph: give exactly one of certificate_path",
        ),
        (
            '[graph]\ntenant_id = "t"\nclient_id = "c"\ncertificate_path = "a"\n'
            'client_secret_env = "S"',
            "given: certificate_path, client_secret_env",
        ),
        (
            '[graph]\ntenant_id = "t"\nclient_id = "c"\ncertificate_path = "a"\n'
            'base_url = "http://graph.example/v1.0"',
            "graph.base_url: must be an https:// URL",
        ),
        (
            '[graph]\ntenant_id = "t"\nclient_id = "c"\ncertificate_path = "a"\n'
            "max_concurrent_requests = 8",
            "graph.max_concurrent_requests",
        ),
    ],
)
def test_a_bad_graph_section_names_the_key(tmp_path: Path, graph: str, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        load_settings(_write(tmp_path, graph))

    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "scope"),
    [
        ("", "https://graph.microsoft.com/.default"),
        ('base_url = "https://graph.microsoft.us/v1.0"', "https://graph.microsoft.us/.default"),
        ('resource = "https://graph.example/"', "https://graph.example/.default"),
    ],
)
def test_the_token_scope_follows_the_cloud(tmp_path: Path, extra: str, scope: str) -> None:
    settings = load_settings(
        _write(
            tmp_path,
            f'[graph]\ntenant_id = "t"\nclient_id = "c"\ncertificate_path = "a.pem"\n{extra}',
        )
    )

    assert scope == settings.graph.graph_scope  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[imap]\nhost = "imap.h.example"', "[imap] is not used with [backend] kind = 'graph'"),
        ('[smtp]\nhost = "smtp.h.example"', "[smtp] is not used with [backend] kind = 'graph'"),
    ],
)
def test_keys_that_do_nothing_on_graph_are_refused(
    tmp_path: Path, extra: str, message: str
) -> None:
    path = _write(tmp_path, '[graph]\ntenant_id = "t"\nclient_id = "c"\ncertificate_path = "a"')
    path.write_text(path.read_text().replace("[[mailboxes]]", extra + "\n[[mailboxes]]", 1))

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert message in str(caught.value)


def test_a_mailbox_password_on_graph_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, '[graph]\ntenant_id = "t"\nclient_id = "c"\ncertificate_path = "a"')
    path.write_text(
        path.read_text().replace('role = "information"', 'role = "information"\npassword_env = "X"')
    )

    with pytest.raises(ConfigError) as caught:
        load_settings(path)

    assert "mailboxes[0]: password_env, password_file and username are not used" in str(
        caught.value
    )


def test_graph_refuses_a_message_whose_headers_name_someone_unintended() -> None:
    """sendMail delivers to the MIME's own To/Cc/Bcc, so an extra one is never sent."""
    from bot.mail.graph_send import _check_recipients
    from bot.mail.ports import DeliveryRejected

    message = b"To: amy@homes.example\r\nBcc: evil@x.example\r\nSubject: s\r\n\r\nbody\r\n"

    with pytest.raises(DeliveryRejected, match="1 recipient"):
        _check_recipients(message, ["amy@homes.example"])
    _check_recipients(message.replace(b"Bcc: evil@x.example\r\n", b""), ["amy@homes.example"])
