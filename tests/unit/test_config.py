"""load_settings and resolve_secret: a typed settings object, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import (
    BackendKind,
    ConfigError,
    MailboxRole,
    load_settings,
    resolve_secret,
)

REPO = Path(__file__).resolve().parents[2]

MINIMAL_IMAP = """\
[organisation]
name = "Northvale Homes"
dmo_email = "dmo@northvale-homes.example"
bot_address = "spocbot@northvale-homes.example"

[storage]
database_url = "sqlite:///var/spocbot.db"
evidence_dir = "var/evidence"

[backend]
kind = "imap"

[imap]
host = "imap.northvale-homes.example"

[smtp]
host = "smtp.northvale-homes.example"
password_env = "SPOCBOT_TEST_SMTP_PASSWORD"

[[mailboxes]]
address = "Housing@Northvale-Homes.Example"
role = "information"
password_env = "SPOCBOT_TEST_HOUSING_PASSWORD"

[[mailboxes]]
address = "spocbot@northvale-homes.example"
role = "bot"
password_file = "secrets/bot-password"
"""


def write(tmp_path: Path, text: str, name: str = "spocbot.toml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return str(caught.value)


def test_minimal_imap_configuration_loads_with_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL_IMAP))

    assert settings.imap is not None and settings.smtp is not None
    assert (
        BackendKind.IMAP,
        "imap.northvale-homes.example",
        993,
        "tls",
        587,
        "starttls",
        "Europe/London",
        ("housing@northvale-homes.example", "spocbot@northvale-homes.example"),
        (MailboxRole.INFORMATION, MailboxRole.BOT),
        ("INBOX",),
        60,
    ) == (
        settings.backend.kind,
        settings.imap.host,
        settings.imap.port,
        settings.imap.security,
        settings.smtp.port,
        settings.smtp.security,
        settings.organisation.timezone,
        tuple(m.address for m in settings.mailboxes),
        tuple(m.role for m in settings.mailboxes),
        settings.mailboxes[0].folders,
        settings.watch.poll_seconds,
    )


def test_watched_mailboxes_exclude_the_bot_mailbox(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL_IMAP))

    assert (("housing@northvale-homes.example",), "spocbot@northvale-homes.example") == (
        tuple(m.address for m in settings.watched),
        settings.bot_mailbox.address,
    )


def test_login_defaults_to_the_mailbox_address(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL_IMAP))

    assert "housing@northvale-homes.example" == settings.mailboxes[0].login


def test_relative_paths_are_anchored_to_the_config_files_directory(tmp_path: Path) -> None:
    config_dir = tmp_path / "etc" / "spocbot"

    settings = load_settings(write(config_dir, MINIMAL_IMAP))

    assert (
        f"sqlite:///{config_dir / 'var' / 'spocbot.db'}",
        config_dir / "var" / "evidence",
        config_dir / "secrets" / "bot-password",
    ) == (
        settings.storage.database_url,
        settings.storage.evidence_dir,
        settings.mailboxes[1].password_file,
    )


def test_a_letter_templates_dir_that_is_not_a_folder_is_an_error_naming_the_key(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, MINIMAL_IMAP + '\n[letters]\ntemplates_dir = "our-letters"\n')

    assert (
        f"letters.templates_dir: {tmp_path / 'our-letters'} is not a folder (it holds the "
        "organisation's own letter templates; leave the key out to use the built-in ones)"
    ) == error_of(path)


def test_a_letter_templates_dir_is_anchored_to_the_config_files_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "our-letters").mkdir()
    path = write(tmp_path, MINIMAL_IMAP + '\n[letters]\ntemplates_dir = "our-letters"\n')

    assert tmp_path / "our-letters" == load_settings(path).letters.templates_dir


@pytest.mark.parametrize(
    "url",
    ["sqlite:////srv/spocbot/spocbot.db", "sqlite:///:memory:", "postgresql://db.example/spocbot"],
    ids=["absolute-sqlite", "memory", "postgresql"],
)
def test_absolute_and_non_file_database_urls_are_kept(tmp_path: Path, url: str) -> None:
    text = MINIMAL_IMAP.replace('"sqlite:///var/spocbot.db"', f'"{url}"')

    assert url == load_settings(write(tmp_path, text)).storage.database_url


def test_absolute_evidence_dir_is_kept(tmp_path: Path) -> None:
    text = MINIMAL_IMAP.replace('"var/evidence"', '"/srv/spocbot/evidence"')

    assert (
        Path("/srv/spocbot/evidence") == load_settings(write(tmp_path, text)).storage.evidence_dir
    )


ERRORS = {
    "unknown-key": (
        (
            'host = "imap.northvale-homes.example"',
            'host = "imap.northvale-homes.example"\nprot = 993',
        ),
        "imap.prot: unknown key",
    ),
    "unknown-section": (
        ("[backend]", "[backnd]\nkind = 'imap'\n\n[backend]"),
        "backnd: unknown key",
    ),
    "missing-key": (
        ('name = "Northvale Homes"\n', ""),
        "organisation.name: missing (required)",
    ),
    "bad-role": (
        ('role = "information"', 'role = "informaton"'),
        "mailboxes[0].role: Input should be 'information', 'spoc', 'staff' or 'bot'",
    ),
    "wrong-type": (
        (
            'host = "imap.northvale-homes.example"',
            'host = "imap.northvale-homes.example"\nport = "nine-nine-three"',
        ),
        "imap.port: Input should be a valid integer",
    ),
    "port-as-a-string-of-digits": (
        (
            'host = "imap.northvale-homes.example"',
            'host = "imap.northvale-homes.example"\nport = "10143"',
        ),
        "imap.port: Input should be a valid integer",
    ),
    "mark-seen-yes": (
        ("[backend]", '[watch]\nmark_seen = "yes"\n\n[backend]'),
        "watch.mark_seen: Input should be a valid boolean",
    ),
    "mark-seen-one": (
        ("[backend]", "[watch]\nmark_seen = 1\n\n[backend]"),
        "watch.mark_seen: Input should be a valid boolean",
    ),
    "poll-seconds-as-a-string": (
        ("[backend]", '[watch]\npoll_seconds = "60"\n\n[backend]'),
        "watch.poll_seconds: Input should be a valid number",
    ),
    "folder-as-a-number": (
        ('role = "information"', 'role = "information"\nfolders = ["INBOX", 1]'),
        "mailboxes[0].folders[1]: Input should be a valid string",
    ),
    "emergency-name-with-line-break": (
        ("[backend]", '[emergency]\nname = "Contact\\nBcc: x@evil.example"\n\n[backend]'),
        "emergency.name: must be non-empty text without line breaks or control characters",
    ),
    "empty-emergency-phrase": (
        ("[backend]", '[emergency]\nphrases = ["gas leak", ""]\n\n[backend]'),
        "emergency.phrases: phrases[1]: an empty phrase is not allowed "
        "(it would make every message an emergency)",
    ),
    "blank-emergency-phrase": (
        ("[backend]", '[emergency]\nphrases = ["   "]\n\n[backend]'),
        "emergency.phrases: phrases[0]: an empty phrase is not allowed "
        "(it would make every message an emergency)",
    ),
    "no-emergency-phrases": (
        ("[backend]", "[emergency]\nphrases = []\n\n[backend]"),
        "emergency.phrases: give at least one phrase, or leave phrases out for the built-in list",
    ),
    "emergency-phrase-ending-in-punctuation": (
        ("[backend]", '[emergency]\nphrases = ["fire!"]\n\n[backend]'),
        "emergency.phrases: phrases[0]: 'fire!': a phrase must start and end with a letter or "
        "digit, since phrases are matched as whole words (write fire, not fire!)",
    ),
    "emergency-route-is-the-bot": (
        ("[backend]", '[emergency]\nforward_to = "spocbot@northvale-homes.example"\n\n[backend]'),
        "emergency.forward_to: must not be the bot's own address (emergency forwards would "
        "reach nobody)",
    ),
    "empty-staff-domain": (
        (
            'bot_address = "spocbot@northvale-homes.example"',
            'bot_address = "spocbot@northvale-homes.example"\nstaff_domains = [""]',
        ),
        "organisation.staff_domains: an empty domain is not allowed",
    ),
    "malformed-staff-domain": (
        (
            'bot_address = "spocbot@northvale-homes.example"',
            'bot_address = "spocbot@northvale-homes.example"\nstaff_domains = ["north vale"]',
        ),
        "organisation.staff_domains: not a mail domain: 'north vale'",
    ),
    "empty-subaddress-domain": (
        ("[backend]", '[matching]\nstrip_subaddress_domains = [" "]\n\n[backend]'),
        "matching.strip_subaddress_domains: an empty domain is not allowed",
    ),
    "topics-differing-only-in-case": (
        ("[backend]", '[topics]\nRent = ["rent"]\nrent = ["arrears"]\n\n[backend]'),
        "topics: topic 'rent' is given twice (topic names are compared ignoring case)",
    ),
    "retry-max-below-initial": (
        ("[backend]", "[watch]\nretry_initial_seconds = 60\nretry_max_seconds = 5\n\n[backend]"),
        "watch: retry_max_seconds (5) must not be less than retry_initial_seconds (60)",
    ),
    "port-out-of-range": (
        (
            'host = "imap.northvale-homes.example"',
            'host = "imap.northvale-homes.example"\nport = 70000',
        ),
        "imap.port: Input should be less than or equal to 65535",
    ),
    "bad-address": (
        ('dmo_email = "dmo@northvale-homes.example"', 'dmo_email = "the DMO"'),
        "organisation.dmo_email: not an email address: 'the dmo'",
    ),
    "unknown-time-zone": (
        (
            'bot_address = "spocbot@northvale-homes.example"',
            'bot_address = "spocbot@northvale-homes.example"\ntimezone = "Europe/Londn"',
        ),
        "organisation.timezone: unknown time zone 'Europe/Londn'",
    ),
    "imap-section-missing": (
        ('[imap]\nhost = "imap.northvale-homes.example"\n', ""),
        "[imap] is required when [backend] kind = 'imap'",
    ),
    "both-password-sources": (
        (
            'password_env = "SPOCBOT_TEST_HOUSING_PASSWORD"',
            'password_env = "SPOCBOT_TEST_HOUSING_PASSWORD"\npassword_file = "pw"',
        ),
        "mailboxes[0]: give password_env or password_file, not both",
    ),
    "bad-imap-keyword": (
        ("[backend]", '[watch]\ntag_keyword = "Spocbot Handled"\n\n[backend]'),
        "watch.tag_keyword: an IMAP keyword must be printable ASCII such as $SpocbotHandled",
    ),
    "non-ascii-imap-keyword": (
        ("[backend]", '[watch]\ntag_keyword = "$Spöc"\n\n[backend]'),
        "watch.tag_keyword: an IMAP keyword must be printable ASCII such as $SpocbotHandled",
    ),
    "no-folders": (
        ('role = "information"', 'role = "information"\nfolders = []'),
        "mailboxes[0].folders: Tuple should have at least 1 item after validation, not 0",
    ),
    "organisation-name-with-line-break": (
        ('name = "Northvale Homes"', 'name = "Northvale\\nBcc: x@evil.example"'),
        "organisation.name: must be non-empty text without line breaks or control characters",
    ),
}


@pytest.mark.parametrize(("edit", "expected"), ERRORS.values(), ids=ERRORS.keys())
def test_invalid_configuration_error_names_the_key(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    old, new = edit
    assert old in MINIMAL_IMAP
    path = write(tmp_path, MINIMAL_IMAP.replace(old, new, 1))

    assert f"{path}: {expected}" == error_of(path)


def test_emergency_phrases_are_kept_with_their_spacing_tidied(tmp_path: Path) -> None:
    text = MINIMAL_IMAP.replace(
        "[backend]", '[emergency]\nphrases = ["  gas   leak ", "flood", "flood"]\n\n[backend]'
    )

    assert ("gas leak", "flood") == load_settings(write(tmp_path, text)).emergency.phrase_list


def test_staff_domains_are_read_as_lower_case_ascii(tmp_path: Path) -> None:
    text = MINIMAL_IMAP.replace(
        'bot_address = "spocbot@northvale-homes.example"',
        'bot_address = "spocbot@northvale-homes.example"\n'
        'staff_domains = ["@Northvale-Homes.Example", "bücher.example"]',
    )

    assert ("northvale-homes.example", "xn--bcher-kva.example") == load_settings(
        write(tmp_path, text)
    ).organisation.staff_domains


def test_every_problem_is_listed_in_one_error(tmp_path: Path) -> None:
    text = MINIMAL_IMAP.replace('role = "information"', 'role = "boss"').replace(
        'host = "imap.northvale-homes.example"', 'host = "imap.northvale-homes.example"\nprot = 1'
    )

    message = error_of(write(tmp_path, text))

    assert ("imap.prot: unknown key" in message, "mailboxes[0].role: " in message) == (True, True)


def test_missing_bot_mailbox_is_an_error(tmp_path: Path) -> None:
    text = MINIMAL_IMAP.replace('role = "bot"', 'role = "staff"')

    message = error_of(write(tmp_path, text))

    assert "exactly one [[mailboxes]] entry must have role = 'bot'" in message


def test_bot_mailbox_must_be_the_organisations_bot_address(tmp_path: Path) -> None:
    text = MINIMAL_IMAP.replace(
        'bot_address = "spocbot@northvale-homes.example"',
        'bot_address = "robot@northvale-homes.example"',
    )

    assert "the address [organisation] bot_address" in error_of(write(tmp_path, text))


def test_mailbox_listed_twice_is_an_error(tmp_path: Path) -> None:
    text = (
        MINIMAL_IMAP
        + '\n[[mailboxes]]\naddress = "housing@northvale-homes.example"\nrole = "staff"\n'
    )

    assert "mailbox listed twice: housing@northvale-homes.example" in error_of(
        write(tmp_path, text)
    )


def test_bad_toml_is_reported_with_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL_IMAP + "\n[imap\n")

    assert error_of(path).startswith(f"{path}: not valid TOML: ")


def test_missing_file_says_how_to_give_one(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    assert error_of(path).startswith(f"{path}: configuration file not found (give --config FILE")


def test_password_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    text = MINIMAL_IMAP.replace(
        'password_env = "SPOCBOT_TEST_HOUSING_PASSWORD"', 'password = "correct horse battery"'
    )

    message = error_of(write(tmp_path, text))

    assert "mailboxes[0].password: unknown key" in message
    assert "correct horse battery" not in message


def test_resolve_secret_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOCBOT_TEST_HOUSING_PASSWORD", "s3cret-from-env")
    settings = load_settings(write(tmp_path, MINIMAL_IMAP))

    assert "s3cret-from-env" == resolve_secret(settings.mailboxes[0], "mailboxes[0]")


def test_resolve_secret_reads_a_file_and_strips_the_newline(tmp_path: Path) -> None:
    write(tmp_path, "s3cret-from-file\n", name="secrets/bot-password")
    settings = load_settings(write(tmp_path, MINIMAL_IMAP))

    assert "s3cret-from-file" == resolve_secret(settings.mailboxes[1], "mailboxes[1]")


def test_unset_password_variable_error_names_the_key_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPOCBOT_TEST_HOUSING_PASSWORD", raising=False)
    settings = load_settings(write(tmp_path, MINIMAL_IMAP))

    with pytest.raises(ConfigError) as caught:
        resolve_secret(settings.mailboxes[0], "mailboxes[0]")

    assert (
        "mailboxes[0].password_env: environment variable SPOCBOT_TEST_HOUSING_PASSWORD is not set"
        == str(caught.value)
    )


def test_unreadable_password_file_error_names_the_key(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL_IMAP))

    with pytest.raises(ConfigError, match=r"^mailboxes\[1\]\.password_file: cannot read "):
        resolve_secret(settings.mailboxes[1], "mailboxes[1]")


def test_no_password_source_gives_none(tmp_path: Path) -> None:
    text = MINIMAL_IMAP.replace('password_env = "SPOCBOT_TEST_SMTP_PASSWORD"\n', "")
    settings = load_settings(write(tmp_path, text))

    assert settings.smtp is not None
    assert resolve_secret(settings.smtp, "smtp") is None


def test_secrets_never_appear_in_the_settings_repr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOCBOT_TEST_HOUSING_PASSWORD", "s3cret-from-env")
    monkeypatch.setenv("SPOCBOT_TEST_SMTP_PASSWORD", "smtp-s3cret")
    write(tmp_path, "s3cret-from-file\n", name="secrets/bot-password")
    settings = load_settings(write(tmp_path, MINIMAL_IMAP))
    assert settings.smtp is not None
    resolved = [
        resolve_secret(settings.mailboxes[0], "mailboxes[0]"),
        resolve_secret(settings.mailboxes[1], "mailboxes[1]"),
        resolve_secret(settings.smtp, "smtp"),
    ]

    text = repr(settings) + str(settings) + settings.model_dump_json()

    assert [False, False, False] == [secret in text for secret in resolved if secret]
    assert "SPOCBOT_TEST_HOUSING_PASSWORD" in text  # only the variable's name is kept


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL_IMAP))

    with pytest.raises(ValueError, match="frozen"):
        settings.organisation.name = "Someone Else"  # type: ignore[misc]


def test_demo_configuration_is_valid() -> None:
    settings = load_settings(REPO / "data" / "demo" / "spocbot.toml")

    assert (BackendKind.EMBEDDED, "spocbot@northvale-homes.example", 6) == (
        settings.backend.kind,
        settings.bot_mailbox.address,
        len(settings.watched),
    )


def test_reminder_offsets_beyond_a_year_are_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "spocbot.toml"
    path.write_text(
        (Path(__file__).resolve().parents[2] / "data/demo/spocbot.toml").read_text()
        + "\n[reminders]\nreview_days_before = [1000000]\n"
    )

    with pytest.raises(ConfigError, match=r"reminders\.review_days_before: days before must be"):
        load_settings(path)
