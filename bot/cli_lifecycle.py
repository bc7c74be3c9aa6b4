"""The ``spocbot`` commands for an arrangement's lifecycle: decisions, reviews, appeals, ends."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
