"""The database and the evidence are owner-only on disk, whatever the umask, and doctor
reports anything under them that others could read (policy §8: protected against
unauthorised access), and a secret written into the configuration."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.bootstrap import build_app
from bot.config import load_settings
from bot.doctor import check_database, check_evidence_dir, check_secrets
from bot.evidence import EvidenceStore
from bot.store.db import make_engine, sqlite_files, upgrade
from tests.unit.test_watcher_with_fakes import CONFIG


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The worst case: a umask that lets every new file be read by anyone."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_wal_files_are_owner_only_under_an_open_umask(
    tmp_path: Path, open_umask: None
) -> None:
    database = tmp_path / "new" / "db.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    with engine.begin() as connection:  # a write with WAL on: the -wal and -shm files exist
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        files = sqlite_files(database)
        assert [True, True, True] == [f.exists() for f in files]
        assert [0o600, 0o600, 0o600] == [mode(f) for f in files]
    assert 0o700 == mode(database.parent)
    engine.dispose()


def test_the_evidence_store_is_owner_only_under_an_open_umask(
    tmp_path: Path, open_umask: None
) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    digest = store.put(b"From: a@b.example\r\n\r\nhello\r\n")
    path = store.path_for(digest)
    assert [0o700, 0o700, 0o700, 0o400] == [
        mode(tmp_path / "evidence"),
        mode(path.parent.parent),
        mode(path.parent),
        mode(path),
    ]
    assert check_evidence_dir(tmp_path / "evidence").ok


def app_in(tmp_path: Path, config: str = CONFIG):  # type: ignore[no-untyped-def]
    (tmp_path / "spocbot.toml").write_text(config)
    return build_app(tmp_path / "spocbot.toml")


def test_doctor_passes_an_owner_only_database(tmp_path: Path) -> None:
    check = check_database(app_in(tmp_path))
    assert (True, "owner-only") == (check.ok, check.detail.split(" and ")[-1])


def test_doctor_names_a_wal_file_others_can_read_and_the_chmod(tmp_path: Path) -> None:
    app = app_in(tmp_path)
    database = tmp_path / "state" / "db.sqlite"
    with app.engine.connect() as connection:  # hold the -wal and -shm files open
        connection.execute(text("SELECT 1"))
        Path(f"{database}-wal").chmod(0o644)

        check = check_database(app)

    assert not check.ok
    assert f"{database}-wal is readable by others (mode 644)" in check.detail
    assert check.fix.startswith(f"chmod 600 {database} {database}-wal")


def test_doctor_names_the_first_evidence_files_others_can_read(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    paths = [store.path_for(store.put(f"message {n}".encode())) for n in range(5)]
    for path in paths:
        path.chmod(0o444)
    paths[0].parent.chmod(0o755)

    check = check_evidence_dir(tmp_path / "evidence")

    assert not check.ok
    assert "6 entries" in check.detail and "(and 3 more)" in check.detail
    assert "(mode 755)" in check.detail or "(mode 444)" in check.detail
    assert f"chmod -R go-rwx {tmp_path / 'evidence'}" in check.fix


def test_doctor_reports_an_evidence_folder_others_can_enter(tmp_path: Path) -> None:
    (tmp_path / "evidence").mkdir(mode=0o755)
    (tmp_path / "evidence").chmod(0o755)

    check = check_evidence_dir(tmp_path / "evidence")

    assert (False, "is readable by others (mode 755)") == (check.ok, check.detail.split(" ", 1)[1])


def settings_with(tmp_path: Path, replace: str, by: str):  # type: ignore[no-untyped-def]
    assert replace in CONFIG
    (tmp_path / "spocbot.toml").write_text(CONFIG.replace(replace, by, 1))
    return load_settings(tmp_path / "spocbot.toml")


def test_doctor_passes_secrets_named_by_environment_variables(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path, 'role = "bot"\n', 'role = "bot"\npassword_env = "SPOCBOT_BOT_PASSWORD"\n'
    )
    assert check_secrets(settings).ok


def test_doctor_fails_a_password_written_where_its_variable_name_belongs(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path, 'role = "bot"\n', 'role = "bot"\npassword_env = "Tr0ub4dor&3"\n'
    )

    check = check_secrets(settings)

    assert not check.ok
    assert "mailboxes[2].password_env is not an environment variable name" in check.detail
    assert "Tr0ub4dor" not in check.detail + check.fix  # doctor's output is not a new leak


def test_doctor_fails_a_database_url_holding_a_password(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path,
        'database_url = "sqlite:///state/db.sqlite"',
        'database_url = "postgresql+psycopg://spocbot:s3cret@db.example/spocbot"',
    )

    check = check_secrets(settings)

    assert (False, "storage.database_url holds a password") == (check.ok, check.detail)
    assert "s3cret" not in check.fix


def test_a_password_key_in_the_configuration_is_refused_when_it_is_read(tmp_path: Path) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match=r"mailboxes\[2\]\.password: unknown key"):
        settings_with(tmp_path, 'role = "bot"\n', 'role = "bot"\npassword = "hunter2"\n')


def test_an_existing_database_others_can_read_is_made_owner_only_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "db.sqlite"
    upgrade(make_engine(f"sqlite:///{database}"))
    database.chmod(0o644)  # e.g. restored from a backup

    make_engine(f"sqlite:///{database}")

    assert 0o600 == mode(database)
    assert f"{database} was open to group or others (mode 644)" in caplog.text
