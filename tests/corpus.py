"""Where the shared real-world message corpus is, for the tests that read it.

It lives outside the repository, in the project's shared folder beside the clone
(``../shared/corpus``), or wherever ``SPOCBOT_CORPUS`` points.  Tests that need it skip with
the reason when it is absent — unless ``SPOCBOT_REQUIRE_CORPUS=1`` (set by CI), when its
absence is a failure, so that CI can never pass without having read it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOT_MESSAGES = frozenset({"LICENSE", "README.md", ".gitattributes"})
CORPUS = Path(
    os.environ.get("SPOCBOT_CORPUS")
    or Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
)


def corpus_messages() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in NOT_MESSAGES)


def require_corpus() -> None:
    if corpus_messages():
        return
    message = f"no message corpus at {CORPUS} (set SPOCBOT_CORPUS to its folder)"
    if os.environ.get("SPOCBOT_REQUIRE_CORPUS") == "1":
        pytest.fail(message)
    pytest.skip(message)
