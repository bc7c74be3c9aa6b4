"""The simple block format every letter template is written in, and its plain-text forms.

A letter template (``templates/letters/KIND.txt.j2``) is Jinja2 that renders to lines::

    # The letter's title (also the email's subject): exactly one, first
    ## A section heading
    A paragraph: consecutive lines are one paragraph, each line kept as a line of its own
    (so a sign-off or an address keeps its shape). A blank line ends the paragraph.
    - A bullet point; consecutive bullets are one list

The HTML, plain-text, Word and PDF renderers all start from the same blocks, so an organisation
edits one file per letter.  A value put into a template (``{{ customer_name }}``) can never make
structure of its own: it is kept on one line (a line break in a name is a space) and it is
marked while the lines are parsed, so a value that starts with ``#`` or ``-`` stays text.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

# Substituted values are wrapped in these while parsing (see :func:`mark_value`).
_OPEN, _CLOSE = "\x02", "\x03"

BlockKind = Literal["title", "heading", "paragraph", "bullets"]


@dataclass(frozen=True)
class Block:
    """One block: a title or heading (one line), a paragraph (its lines) or a bullet list
    (its items)."""

    kind: BlockKind
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


class BlockFormatError(ValueError):
    """A rendered template is not in the block format; the message says where."""


def mark_value(value: object) -> str:
    """What a ``{{ value }}`` prints (Jinja's ``finalize``): one line, marked as a value."""
    text = "" if value is None else str(value)
    text = " ".join(text.replace(_OPEN, "").replace(_CLOSE, "").split())
    return f"{_OPEN}{text}{_CLOSE}" if text else ""


def _clean(text: str) -> str:
    return " ".join(text.replace(_OPEN, "").replace(_CLOSE, "").split())


def parse_blocks(rendered: str) -> tuple[Block, ...]:
    """The blocks of a rendered template; :class:`BlockFormatError` if it has no title, a
    second title, or a title that is not first."""
    blocks: list[Block] = []
    lines: list[str] = []
    items: list[str] = []

    def close() -> None:
        if lines:
            blocks.append(Block("paragraph", tuple(lines)))
            lines.clear()
        if items:
            blocks.append(Block("bullets", tuple(items)))
            items.clear()

    for number, raw in enumerate(rendered.splitlines(), start=1):
        line = raw.rstrip()
        literal = line.lstrip()  # markers count only when written in the template itself
        if not _clean(line):
            close()
        elif literal.startswith("# "):
            close()
            if blocks:
                where = "a second title" if any(b.kind == "title" for b in blocks) else "a title"
                raise BlockFormatError(
                    f"line {number}: {where} after the start (only the first line may be '# ')"
                )
            blocks.append(Block("title", (_clean(literal[2:]),)))
        elif literal.startswith("## "):
            close()
            blocks.append(Block("heading", (_clean(literal[3:]),)))
        elif literal.startswith("- "):
            if lines:
                close()
            items.append(_clean(literal[2:]))
        elif items and raw.startswith("  "):  # an indented line continues the last bullet
            items[-1] = f"{items[-1]} {_clean(line)}"
        else:
            if items:
                close()
            lines.append(_clean(line))
    close()
    if not blocks or blocks[0].kind != "title":
        raise BlockFormatError("the template must start with the letter's title: '# Title'")
    return tuple(blocks)


def plain_text(blocks: Iterable[Block]) -> str:
    """Every word of the letter on one line per block, for checking what it says."""
    out: list[str] = []
    for block in blocks:
        out.extend(block.lines)
    return "\n".join(out)


def to_text(blocks: Sequence[Block], width: int = 76) -> str:
    """The letter as plain text (the email's text part): wrapped, bullets as ``-``."""
    out: list[str] = []
    for block in blocks:
        if block.kind == "title":
            out += [block.text, "=" * min(width, len(block.text))]
        elif block.kind == "heading":
            out += [block.text, "-" * min(width, len(block.text))]
        elif block.kind == "paragraph":
            for line in block.lines:
                out += _wrap(line, width, "", "")
        else:
            for item in block.lines:
                out += _wrap(item, width, "  - ", "    ")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [first.rstrip()]
