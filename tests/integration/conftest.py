"""Fixtures for tests against the real Dovecot and Postfix servers (see tests/mailtest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mailtest import Org, make_org, require_servers


@pytest.fixture
def org(tmp_path: Path) -> Org:
    require_servers()
    organisation = make_org(tmp_path)
    organisation.spocbot("register", "import", str(tmp_path / "register.csv"))
    return organisation
