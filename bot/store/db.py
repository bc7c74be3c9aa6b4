"""Opening the database and bringing its schema up to date.

SQLite is opened in WAL mode with a busy timeout so that the watcher and the DMO's commands
can write at the same time without "database is locked" errors; foreign keys are enforced.
The database file and its ``-wal`` and ``-shm`` files hold the register: they are created
owner-only (0600) whatever the umask, and made so again if found open to others.
The schema is owned by Alembic (``bot/store/migrations``); :func:`upgrade` runs it.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.private_files import FILE_MODE, private_dir

MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger(__name__)


def make_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; SQLite files get WAL, a busy timeout and foreign keys,
    and a new database file is created owner-only (see :func:`create_private_database`)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            create_private_database(Path(url.database))
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def sqlite_files(database: Path) -> list[Path]:
    """The database file and the two files SQLite keeps beside it in WAL mode."""
    return [database, Path(f"{database}-wal"), Path(f"{database}-shm")]


def create_private_database(database: Path) -> None:
    """Create a missing database file 0600 (its missing folders 0700) before SQLite does;
    make an existing one (and its WAL files) owner-only again, saying so.

    SQLite would create the file with the umask's mode; the ``-wal`` and ``-shm`` files it
    makes later get the database file's own mode, whatever the umask.  A file others could
    read (restored from a backup, copied with ``cp``) is tightened at once rather than left
    open until someone runs ``spocbot doctor``; the warning says it happened."""
    if database.exists():
        for path in sqlite_files(database):
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
                if mode & 0o077:
                    path.chmod(FILE_MODE)
                    log.warning(
                        "%s was open to group or others (mode %o); made owner-only (600)",
                        path,
                        mode,
                    )
            except FileNotFoundError:
                continue
            except PermissionError:
                continue  # another user's file: doctor reports it, with the fix
        return
    if not database.parent.exists():
        private_dir(database.parent)
    fd = os.open(database, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # O_CREAT's mode is masked by the umask; this is not
    os.close(fd)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Deleted rows (an erasure, a retention purge) are overwritten, not left in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def upgrade(engine: Engine) -> None:
    """Apply every Alembic migration not yet applied."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory.begin() as session:
        yield session


def forget_deleted(factory: sessionmaker[Session]) -> None:
    """After an erasure: copy the write-ahead log into the database and empty it, so that the
    erased rows do not linger in the ``-wal`` file of a long-running service (with
    ``secure_delete`` their pages in the database are overwritten).  Best effort: a reader
    still open elsewhere may keep part of the log until the next checkpoint."""
    with factory() as session:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
