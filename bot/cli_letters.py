"""The ``spocbot`` commands for letters: render and send."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
