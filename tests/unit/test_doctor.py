"""spocbot doctor's checks that need no server: the app certificate, templates, letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import load_settings
from bot.doctor import check_certificate, check_letters, check_templates
from bot.templating import DEFAULT_TEMPLATES
from tests.graphtest import app_certificate

NOW = datetime.now(UTC)


def test_a_good_certificate_shows_the_thumbprint_entra_shows(tmp_path: Path) -> None:
    pem, _ = app_certificate(tmp_path)

    check = check_certificate(pem, NOW)

    assert check.ok
    assert "thumbprint " in check.detail and "CN=spocbot test app" in check.detail


def test_a_certificate_near_or_past_its_expiry_fails_with_the_fix(tmp_path: Path) -> None:
    pem, _ = app_certificate(tmp_path)  # valid for a year

    soon = check_certificate(pem, NOW + timedelta(days=350))
    gone = check_certificate(pem, NOW + timedelta(days=366))

    assert not soon.ok and "expires in" in soon.detail
    assert not gone.ok and gone.detail.endswith("expired")


def test_a_private_key_readable_by_others_fails(tmp_path: Path) -> None:
    pem, _ = app_certificate(tmp_path)
    pem.chmod(0o644)

    check = check_certificate(pem, NOW)

    assert not check.ok
    assert f"chmod 600 {pem}" == check.fix


def test_a_file_without_a_certificate_names_what_it_must_hold(tmp_path: Path) -> None:
    path = tmp_path / "key-only.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")

    check = check_certificate(path, NOW)

    assert not check.ok
    assert "private key and the certificate" in check.fix


DEMO_CONFIG = Path(__file__).resolve().parents[2] / "data/demo/spocbot.toml"


def test_letters_without_an_emergency_number_fail_with_the_fix(tmp_path: Path) -> None:
    text = DEMO_CONFIG.read_text().replace('emergency_phone = "01632 960000"\n', "")
    (tmp_path / "spocbot.toml").write_text(text)

    check = check_letters(load_settings(tmp_path / "spocbot.toml"))

    assert (False, "set [letters] emergency_phone to the contact centre number") == (
        check.ok,
        check.fix,
    )
    assert check_letters(load_settings(DEMO_CONFIG)).ok


def test_a_missing_templates_folder_fails_with_the_install_fix(tmp_path: Path) -> None:
    check = check_templates(tmp_path / "site-packages" / "templates")

    assert (False, True) == (check.ok, "pip install -e ." in check.fix)
    assert check_templates(DEFAULT_TEMPLATES).ok
