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


def printable_line(text: str) -> str:
    """``text`` as one line of printable text: line breaks, tabs and other control characters
    (which Word and PDF files cannot hold) are spaces, runs of spaces one space."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def mark_value(value: object) -> str:
    """What a ``{{ value }}`` prints (Jinja's ``finalize``): one line, marked as a value."""
    text = _clean("" if value is None else str(value))
    return f"{_OPEN}{text}{_CLOSE}" if text else ""


def _clean(text: str) -> str:
    return printable_line(text.replace(_OPEN, "").replace(_CLOSE, ""))


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


def to_text(blocks: Sequence[Block], underline: int = 76) -> str:
    """The letter as plain text (the email's text part), bullets as ``-``.

    Not hard-wrapped: each line of a paragraph and each bullet is one line, which the reader's
    mail program wraps to its window, so a phone number, a date or an address is never
    broken across two lines (the message's quoted-printable encoding keeps long lines safe
    in transit).  Titles and headings are underlined, to at most ``underline`` characters.
    """
    out: list[str] = []
    for block in blocks:
        if block.kind == "title":
            out += [block.text, "=" * min(underline, len(block.text))]
        elif block.kind == "heading":
            out += [block.text, "-" * min(underline, len(block.text))]
        elif block.kind == "paragraph":
            out += block.lines
        else:
            out += [f"  - {item}" for item in block.lines]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
