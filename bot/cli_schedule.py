"""The ``spocbot`` commands for reminders, digests and the `spocbot run` daemon."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
