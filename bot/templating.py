"""Rendering the Jinja2 templates under ``templates/``.

Undefined variables are errors (StrictUndefined), so a template can never silently print
nothing where a name or date belongs; HTML templates are autoescaped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class Templates:
    def __init__(self, directory: Path = DEFAULT_TEMPLATES) -> None:
        self._env = Environment(
            loader=FileSystemLoader(directory),
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html", "htm", "html.j2"]),
            keep_trailing_newline=True,
        )

    def render(self, name: str, **context: Any) -> str:
        return self._env.get_template(name).render(**context)

    def render_line(self, name: str, **context: Any) -> str:
        """Render a one-line template (a subject): whitespace collapsed, no newlines."""
        return " ".join(self.render(name, **context).split())
