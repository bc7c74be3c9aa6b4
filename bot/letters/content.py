"""What a letter says: its context from the register and the configuration, checked for
what happened and three times for the elements the policy requires.

0. A letter about a step that was not recorded (a review outcome with no review, a cease and
   desist letter with no cease and desist in force, an introduction after the end...) is
   refused, naming the state and the step to record (``_Facts._check_state``).  The appeal a
   decision letter offers is :func:`bot.lifecycle.decision_in_force`'s, the same as
   ``spocbot arrangement appeal`` accepts; a letter about a decision no longer in force
   offers none and is refused.
1. Before rendering, the context is checked (:func:`_check_context`): an element with nothing
   to say (no reasons recorded, no emergency number configured, no decision date to count the
   appeal period from) is refused, naming it and how to supply it.
2. The template is rendered with StrictUndefined: a name it uses that the context lacks is an
   error, never an empty space.
3. After rendering, each element's words (the reasons as recorded, the SPOC's name, each
   restriction, the review date, the appeal date and address, the emergency number...) must
   be in the letter (:func:`_check_output`), so an organisation's own template that leaves
   one out is refused too.

Reasons and support needs are restricted (need-to-know): they are in the context of letters
to the customer (reasons only) and the DMO's referral form (both), and nowhere else; the
warnings a letter comes with never quote them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.errors import DomainError
from bot.letters import wording
from bot.letters.blocks import (
    Block,
    BlockFormatError,
    mark_value,
    parse_blocks,
    plain_text,
    printable_line,
)
from bot.letters.kinds import BEYOND_APPEAL, ELEMENTS, KINDS, Kind
from bot.lifecycle import DecisionKind, EventKind, decision_in_force
from bot.store import models as m
from bot.templating import DEFAULT_TEMPLATES
from mailbox_rules.calendar import APPEAL_WINDOW_DAYS, long_date
from mailbox_rules.register import ArrangementStatus

LETTER_TEMPLATES = DEFAULT_TEMPLATES / "letters"

_STAGE_WORDS = {
    ArrangementStatus.WARNING.value: "at the warning stage (stage 2)",
    ArrangementStatus.ACTIVE.value: "in force (the formal stage, stage 3)",
    ArrangementStatus.CEASE_AND_DESIST.value: "at cease and desist (stage 4)",
    ArrangementStatus.CEASED.value: "ended",
}
"""An arrangement's status in words, for letters and refusals."""

_DECISION_LETTER = {
    DecisionKind.DECISION: "introduction",
    DecisionKind.REVIEW: "review-outcome",
    DecisionKind.CEASE_AND_DESIST: "cease-and-desist",
    DecisionKind.APPEAL: "appeal-outcome",
}
"""The letter that tells the customer of each kind of decision."""

_OTHER_FORMAT = re.compile(
    r"large[\s-]*print|big(ger)?\s+print|braille|easy[\s-]*read|audio|\bformats?\b"
    r"|font\s+size|screen\s*reader",
    re.IGNORECASE,
)
"""Support needs that ask for another format than a standard-print letter."""


class LetterError(DomainError):
    """A letter cannot be written or sent; the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class LetterOptions:
    """What the operator gives beyond the register: the letter's date and, for some kinds, an
    outcome or the dates of a cover."""

    as_of: date
    outcome: str | None = None
    cover_from: date | None = None
    cover_to: date | None = None
    operator: str = ""


@dataclass(frozen=True)
class LetterDocument:
    """A letter ready for any format: its blocks and who it is to."""

    kind: str
    customer_ref: str
    title: str
    blocks: tuple[Block, ...]
    letter_date: date
    organisation: str
    organisation_address: tuple[str, ...]
    recipient_name: str
    recipient_email: str
    recipient_address: tuple[str, ...]
    reply_to: str | None
    key: str  # what the letter is about (its decision), for sending it once
    about: str  # the same, in words, for listings (never reasons)
    to_customer: bool = True
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        return plain_text(self.blocks)

    @property
    def date_text(self) -> str:
        return long_date(self.letter_date)


def letter_environment(templates_dir: Path | None) -> SandboxedEnvironment:
    """The letters' Jinja2 environment: the organisation's folder first, then the built-in one.

    Sandboxed (an organisation's template can print values, not reach into Python), strict
    about undefined names, and every ``{{ value }}`` kept on one line (see
    :func:`bot.letters.blocks.mark_value`).
    """
    loaders: list[BaseLoader] = []
    if templates_dir is not None:
        loaders.append(FileSystemLoader(templates_dir))
    loaders.append(FileSystemLoader(LETTER_TEMPLATES))
    return SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        autoescape=False,  # the output is blocks of text; each format escapes for itself
        finalize=mark_value,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def compose(
    session: Session,
    settings: Settings,
    kind_name: str,
    customer_ref: str,
    options: LetterOptions,
) -> LetterDocument:
    """The letter ``kind_name`` for ``customer_ref``, checked; :class:`LetterError` if it
    cannot be written as the policy requires."""
    kind = KINDS.get(kind_name)
    if kind is None:
        raise LetterError(
            f"there is no letter {kind_name!r}; the letters are: {', '.join(KINDS)}"
            " (`spocbot letter kinds`)"
        )
    arrangement = session.scalar(
        select(m.Arrangement)
        .join(m.Customer)
        .where(func.lower(m.Customer.ref) == customer_ref.strip().lower())
    )
    if arrangement is None:
        raise LetterError(
            f"there is no arrangement for customer {customer_ref!r} in the register "
            "(`spocbot register list`)"
        )
    customer_ref = arrangement.customer.ref  # as the register writes it
    if kind.name != "cover-notice" and (options.cover_from or options.cover_to):
        raise LetterError("only the cover-notice letter takes --from and --to")
    facts = _Facts(session, settings, kind, arrangement, options)
    context, checks = facts.context()
    _check_context(kind, customer_ref, facts.outcome, checks)
    blocks = render_blocks(settings.letters.templates_dir, kind.template, context)
    _check_output(kind, customer_ref, facts.outcome, checks, blocks, context)
    return LetterDocument(
        kind=kind.name,
        customer_ref=customer_ref,
        title=blocks[0].text,
        blocks=blocks,
        letter_date=options.as_of,
        organisation=settings.organisation.name,
        organisation_address=tuple(settings.letters.organisation_address),
        recipient_name=facts.recipient_name,
        recipient_email=facts.recipient_email,
        recipient_address=facts.recipient_address,
        reply_to=facts.reply_to,
        key=facts.key,
        about=facts.about,
        to_customer=kind.to_customer,
        warnings=tuple(facts.warnings),
    )


def render_blocks(
    templates_dir: Path | None, name: str, context: dict[str, Any]
) -> tuple[Block, ...]:
    """Render one letter template into blocks; a broken template is a :class:`LetterError`
    naming the file."""
    rendered = render_template(letter_environment(templates_dir), templates_dir, name, context)
    try:
        return parse_blocks(rendered)
    except BlockFormatError as exc:
        raise LetterError(f"the letter template {_where(templates_dir, name)}: {exc}") from None


def render_template(
    env: Environment, templates_dir: Path | None, name: str, context: dict[str, Any]
) -> str:
    """Render template ``name``; whatever goes wrong in it (a syntax error, a name the letter
    does not have, a division by zero, a template including itself, a file that is not
    UTF-8...) is a :class:`LetterError` naming the template and the problem, never a
    traceback: an organisation's own templates are theirs to get wrong."""
    where = _where(templates_dir, name)
    try:
        return env.get_template(name).render(**context)
    except TemplateNotFound as exc:
        raise LetterError(f"the letter template {exc.name} was not found") from None
    except TemplateSyntaxError as exc:
        raise LetterError(
            f"the letter template {_where(templates_dir, exc.name or name)} has an error on "
            f"line {exc.lineno}: {exc.message}"
        ) from None
    except UndefinedError as exc:
        raise LetterError(
            f"the letter template {where} uses something this letter does not have "
            f"({exc.message}); templates/letters/README.md lists what each letter can use"
        ) from None
    except SecurityError as exc:
        raise LetterError(f"the letter template {where} does something unsafe: {exc}") from None
    except TemplateError as exc:
        raise LetterError(f"the letter template {where} cannot be rendered: {exc}") from None
    except RecursionError:
        raise LetterError(
            f"the letter template {where} includes or extends itself, directly or through "
            "another template"
        ) from None
    except UnicodeDecodeError as exc:
        raise LetterError(
            f"the letter template {where} (or a template it includes) is not UTF-8 text "
            f"(byte {exc.start}): save it as UTF-8"
        ) from None
    except Exception as exc:  # an error in the template's own expressions: 1 / 0, ...
        raise LetterError(
            f"the letter template {where} cannot be rendered: {type(exc).__name__}: {exc}"
        ) from None


def _where(templates_dir: Path | None, name: str) -> str:
    """The template's file: the organisation's own when it has one, else the built-in."""
    if templates_dir is not None and (templates_dir / name).is_file():
        return str(templates_dir / name)
    return name


# -- the checks -----------------------------------------------------------------------------

Checks = dict[str, "list[str] | str"]
"""Per element: the words that must appear in the letter, or why there are none (a problem)."""


def _check_context(kind: Kind, ref: str, outcome: str | None, checks: Checks) -> None:
    problems = []
    for element in kind.elements(outcome):
        found = checks.get(element, "nothing is recorded for it")
        if isinstance(found, str):
            problems.append(f"{ELEMENTS[element]}: {found}")
    if problems:
        raise LetterError(
            f"cannot write the {kind.name} letter for {ref}: a required element is missing:\n  "
            + "\n  ".join(problems)
        )


def _check_output(
    kind: Kind,
    ref: str,
    outcome: str | None,
    checks: Checks,
    blocks: Sequence[Block],
    context: dict[str, Any],
) -> None:
    text = _comparable(plain_text(blocks))
    problems = []
    for element in kind.elements(outcome):
        needles = checks[element]
        assert isinstance(needles, list)  # _check_context refused the rest
        missing = [n for n in needles if _comparable(n) not in text]
        if missing:
            problems.append(f"{ELEMENTS[element]} (it must include: {'; '.join(missing)})")
    if problems:
        raise LetterError(
            f"the {kind.template} template leaves out what the {kind.name} letter for {ref} "
            "must say:\n  " + "\n  ".join(problems)
        )


def _comparable(text: str) -> str:
    return printable_line(text).casefold()


# -- the facts ------------------------------------------------------------------------------


class _Facts:
    """Everything one letter needs, worked out once from the register and the configuration."""

    def __init__(
        self,
        session: Session,
        settings: Settings,
        kind: Kind,
        arrangement: m.Arrangement,
        options: LetterOptions,
    ) -> None:
        self.session, self.settings, self.kind = session, settings, kind
        self.a, self.options = arrangement, options
        self.customer = arrangement.customer
        self.warnings: list[str] = []
        self.permitted = [p.address for p in arrangement.permitted]
        self.route = self.permitted or [arrangement.spoc.email]
        self.decision = decision_in_force(arrangement)
        self.review = self._latest_event(EventKind.REVIEW)
        self.appeal = self._latest_appeal()
        self.cease = self._latest_event(EventKind.CEASE_AND_DESIST)
        self._check_state()
        self.outcome = self._outcome()
        self.cover_dates: tuple[date, date] | None = None
        self.cover_officer: m.Officer | None = arrangement.cover
        self.key, self.about = "", ""
        if kind.to_customer:
            self.recipient_name = self.customer.name
            emails = [e.address for e in self.customer.emails]
            self.recipient_email = emails[0] if emails else ""
            self.recipient_address = tuple(
                line.strip() for line in arrangement.customer_address.split(";") if line.strip()
            )
            # A reply must reach a person by the permitted route, never the unread bot mailbox.
            self.reply_to: str | None = self.route[0]
        else:
            self.recipient_name = "Data Management Officer"
            self.recipient_email = settings.organisation.dmo_email
            self.recipient_address = tuple(settings.letters.organisation_address) or (
                settings.organisation.name,
            )
            self.reply_to = arrangement.spoc.email

    # -- what happened ----------------------------------------------------------------------

    def _latest_event(self, kind: str) -> m.ArrangementEvent | None:
        events = [e for e in self.a.events if e.kind == kind]
        return max(events, key=lambda e: (e.on, e.id)) if events else None

    def _latest_appeal(self) -> m.Appeal | None:
        decided = [x for x in self.a.appeals if x.status == "decided" and x.decided_on]
        return max(decided, key=lambda x: (x.decided_on or date.min, x.id)) if decided else None

    def _refuse(self, state: str, step: str) -> LetterError:
        return LetterError(
            f"cannot write the {self.kind.name} letter for {self.customer.ref}: {state}; {step}"
        )

    def _check_state(self) -> None:
        """Refuse a letter about something that did not happen (a review not recorded, a
        cease and desist not decided, restrictions in force after the end...), naming the
        state and the step to record."""
        name, status, ref = self.kind.name, self.a.status, self.customer.ref
        ended = status == ArrangementStatus.CEASED.value
        if ended and name in ("introduction", "cease-and-desist", "cover-notice"):
            on = f" on {self.a.ended_on.isoformat()}" if self.a.ended_on else ""
            raise self._refuse(
                f"the arrangement has ended{on}, and this letter says it is in force",
                "the end letter tells the customer it has ended (`spocbot letter send end`)",
            )
        if name == "introduction" and status != ArrangementStatus.ACTIVE.value:
            step = {
                ArrangementStatus.WARNING.value: "record the decision first (`spocbot "
                "arrangement decide`); at the warning stage the fair-treatment letter applies",
                ArrangementStatus.CEASE_AND_DESIST.value: "the cease-and-desist letter tells "
                "of the decision in force",
            }.get(status, "record the decision first (`spocbot arrangement decide`)")
            raise self._refuse(f"the arrangement is {_STAGE_WORDS.get(status, status)}", step)
        if name == "cease-and-desist" and status != ArrangementStatus.CEASE_AND_DESIST.value:
            raise self._refuse(
                f"no cease and desist is in force (the arrangement is "
                f"{_STAGE_WORDS.get(status, status)})",
                f"record it first (`spocbot arrangement cease-and-desist {ref}`)",
            )
        if name == "fair-treatment" and status != ArrangementStatus.WARNING.value:
            raise self._refuse(
                f"the fair-treatment letter is for the warning stage, and the arrangement is "
                f"{_STAGE_WORDS.get(status, status)}",
                "its letters are introduction, review-outcome, cease-and-desist and end "
                "(`spocbot letter kinds`)",
            )
        if name == "end":
            if not ended:
                raise self._refuse(
                    f"the arrangement has not ended (it is {_STAGE_WORDS.get(status, status)})",
                    f"record the end first (`spocbot arrangement end {ref}`)",
                )
            if self.a.ended_on is None:
                raise self._refuse(
                    "the arrangement is ceased but its end is not recorded",
                    f"record it (`spocbot arrangement end {ref} --on YYYY-MM-DD`)",
                )
        if name == "review-outcome" and self.review is None:
            raise self._refuse(
                "no review is recorded",
                f"record it first (`spocbot arrangement review {ref}`): the letter tells of "
                "the recorded review",
            )
        if name == "appeal-outcome" and self.appeal is None:
            raise self._refuse(
                "no appeal decision is recorded",
                f"record it first (`spocbot arrangement appeal-decide {ref}`): the letter "
                "tells of the recorded decision",
            )

    def _outcome(self) -> str | None:
        """The outcome as recorded (the latest review or appeal); ``--outcome`` must agree."""
        if not self.kind.outcomes:
            if self.options.outcome:
                raise LetterError(f"the {self.kind.name} letter takes no --outcome")
            return None
        given = self.options.outcome
        if given and given not in self.kind.outcomes:
            raise LetterError(
                f"--outcome for the {self.kind.name} letter is one of: "
                f"{', '.join(self.kind.outcomes)}"
            )
        if self.kind.name == "review-outcome":
            recorded = self.review.outcome if self.review else None
        else:
            recorded = self.appeal.outcome if self.appeal else None
        if given and recorded and given != recorded:
            raise LetterError(
                f"the {self.kind.name} recorded for {self.customer.ref} is {recorded!r}, not "
                f"{given!r}; correct the record, or leave out --outcome"
            )
        outcome = recorded or given
        if outcome in ("ended", "upheld") and self.a.status != ArrangementStatus.CEASED.value:
            raise self._refuse(
                f"the recorded outcome {outcome!r} ended the arrangement, but it is "
                f"{_STAGE_WORDS.get(self.a.status, self.a.status)} now (made live again by a "
                "register import?)",
                "check `spocbot arrangement history`",
            )
        return outcome if outcome in self.kind.outcomes else None

    def _letter_decision(self) -> tuple[date | None, str]:
        """The date of the decision this letter tells of, and why its appeal cannot be offered
        (empty when it can: it is the decision in force, see
        :func:`bot.lifecycle.decision_in_force`)."""
        name, d = self.kind.name, self.decision
        if name == "appeal-outcome":
            return (self.appeal.decided_on if self.appeal else None), ""
        if name == "review-outcome":
            on = self.review.on if self.review else None
            matches = (
                d.kind is DecisionKind.REVIEW
                and self.review is not None
                and (d.event_id == self.review.id)
            )
        elif name == "cease-and-desist":
            on = self.cease.on if self.cease else self.a.decided_on
            matches = (
                d.kind is DecisionKind.CEASE_AND_DESIST
                and self.cease is not None
                and d.event_id == self.cease.id
            ) or (self.cease is None and d.kind is DecisionKind.DECISION)  # imported as such
        else:
            on = self.a.decided_on if d.kind is DecisionKind.START else d.on
            matches = d.kind is DecisionKind.DECISION
        if d.counted_from_start or on is None:
            what = {
                "review-outcome": "the date of the review is not recorded: record the review",
            }.get(
                name, "the date of the decision is not recorded (decided_on): record the decision"
            )
            return (
                on,
                f"{what}, so that the {APPEAL_WINDOW_DAYS}-day appeal period can be counted",
            )
        if not d.appealable:
            return on, (
                f"the decision in force is {d.words}, the last internal stage, which cannot be "
                "appealed again (the appeal-outcome letter tells the customer what they can do "
                "instead)"
            )
        if not matches:
            letter = _DECISION_LETTER.get(d.kind, "")
            return on, (
                f"the decision in force is {d.words}, not the one this letter tells of: an "
                f"appeal is now against that decision"
                + (f" (the {letter} letter tells of it)" if letter else "")
            )
        return on, ""

    # -- the context ------------------------------------------------------------------------

    def context(self) -> tuple[dict[str, Any], Checks]:
        """The template's context, and per element the words the letter must contain."""
        s, a, letters = self.settings, self.a, self.settings.letters
        checks: Checks = {}
        ctx: dict[str, Any] = {
            "kind": self.kind.name,
            "organisation": s.organisation.name,
            "organisation_address": list(letters.organisation_address),
            "letter_date": long_date(self.options.as_of),
            "reference": self.customer.ref,
            "customer_name": self.customer.name,
            "recipient_name": self.recipient_name,
            "signatory_name": letters.signatory_name,
            "signatory_title": letters.signatory_title,
            "emergency_phone": letters.emergency_phone or "",
            "emergency_contact": letters.emergency_contact,
            "status": a.status,
            "stage": _STAGE_WORDS.get(a.status, a.status),
            "outcome": self.outcome or "",
        }
        checks["emergency"] = (
            [letters.emergency_phone]
            if letters.emergency_phone
            else "set [letters] emergency_phone in the configuration (the contact centre number)"
        )
        if self.kind.outcomes:
            checks["outcome"] = (
                []
                if self.outcome
                else f"no {self.kind.name.replace('-outcome', '')} outcome is recorded for "
                f"{self.customer.ref}: record it, or give --outcome "
                f"({', '.join(self.kind.outcomes)})"
            )

        # Who to contact, and how.
        spoc_name = " ".join(a.spoc.name.split())
        ctx |= {
            "spoc_name": spoc_name,
            "spoc_email": a.spoc.email,
            "spoc_phone": a.spoc_phone,
            "contact_address": self.route[0],
            "contact_addresses": list(self.route),
        }
        checks["spoc"] = [spoc_name] if spoc_name else "the register has no spoc_name"
        methods, contact = self._contact_methods()
        ctx["contact_methods"] = methods
        checks["contact"] = contact

        # What is restricted, for how long, and the appeal.
        cease = a.status == ArrangementStatus.CEASE_AND_DESIST.value
        restrictions = wording.restrictions(
            spoc_name=spoc_name,
            channels_text=a.channels,
            contact_hours_text=a.contact_hours,
            max_contacts=a.max_contacts,
            max_issues=a.max_issues,
            subject_matters=a.subject_matters,
            office_visits=a.office_visits,
            permitted=self.permitted,
            cease_and_desist=cease,
            third_person=not self.kind.to_customer,
        )
        ctx["restrictions"] = restrictions
        checks["restrictions"] = list(restrictions) if restrictions else "none are recorded"
        checks["cease"] = ["acknowledged but not answered"]

        review_on = self._review_date()
        ctx |= {
            "start_date": long_date(a.start_date),
            "review_date": long_date(review_on),
            "review_months": a.review_months,
            "lapse_at_review": a.lapse_at_review,
        }
        if review_on < self.options.as_of:
            checks["duration"] = checks["review_timescale"] = (
                f"the review date {review_on.isoformat()} is before the letter's date "
                f"{self.options.as_of.isoformat()}: record the review, or correct review_date"
            )
        else:
            checks["duration"] = checks["review_timescale"] = [long_date(review_on)]

        decided, problem = self._letter_decision()
        deadline = None if problem else self.decision.deadline
        ctx |= {
            "decision_date": long_date(decided) if decided else "",
            "appeal_days": APPEAL_WINDOW_DAYS,
            "appeal_by": long_date(deadline) if deadline else "",
            "appeals_to": s.appeals_to,
            "appeals_postal_address": list(letters.appeals_postal_address),
        }
        if deadline is None:
            checks["appeal"] = problem or "the decision in force cannot be appealed"
        else:
            checks["appeal"] = [long_date(deadline), s.appeals_to]
            if "appeal" in self.kind.elements(self.outcome) and deadline < self.options.as_of:
                self.warnings.append(
                    f"the appeal deadline, {long_date(deadline)} ({APPEAL_WINDOW_DAYS} days after "
                    f"{self.decision.words}), is before the letter's date "
                    f"({long_date(self.options.as_of)}): the letter offers an appeal by a date "
                    "already past, and an appeal now is late (`spocbot arrangement appeal --late`)"
                )
        checks["beyond_appeal"] = list(BEYOND_APPEAL)

        # The customer's own letters say why; the DMO's form also says what support they need.
        reasons = a.reasons
        if self.kind.name == "cease-and-desist" and self.cease is not None and self.cease.reasons:
            reasons = self.cease.reasons  # the reasons for this decision, not the first one's
        ctx["reasons"] = printable_line(reasons)
        ctx["change_required"] = printable_line(a.change_required)
        checks["reasons"] = (
            [ctx["reasons"]] if ctx["reasons"] else "record them in the register's reasons column"
        )
        checks["change_required"] = (
            [ctx["change_required"]]
            if ctx["change_required"]
            else "record it in the register's change_required column (what the customer must "
            "change)"
        )
        if not self.kind.to_customer:
            ctx |= self._referral()
        elif _OTHER_FORMAT.search(a.support_needs):
            self.warnings.append(
                f"the register's support needs for {self.customer.ref} mention another format "
                "(such as large print): this letter is in standard print; arrange the format "
                "they need"
            )

        ended = self._end_date()
        ctx["ended_on"] = long_date(ended) if ended else ""
        checks["end_date"] = (
            [long_date(ended)]
            if ended
            else "the end is not recorded (ended_on): record the end of the arrangement first"
        )
        self._cover(ctx, checks)

        self.key, self.about = self._key(decided, ended)
        if self.kind.to_customer and not self.recipient_address:
            self.warnings.append(
                f"the register has no postal address for {self.customer.ref} "
                "(customer_address): the letter shows the name only"
            )
        ctx["recipient_address"] = list(self.recipient_address)
        return ctx, checks

    def _end_date(self) -> date | None:
        if self.kind.name == "review-outcome" and self.outcome == "ended" and self.review:
            return self.review.on
        if self.kind.name == "appeal-outcome" and self.outcome == "upheld" and self.appeal:
            return self.appeal.decided_on
        return self.a.ended_on

    def _review_date(self) -> date:
        if self.kind.name == "review-outcome" and self.review and self.review.next_review:
            return self.review.next_review
        return self.a.review_date

    def _contact_methods(self) -> tuple[list[str], list[str] | str]:
        """How the customer may contact their SPOC, one sentence each, and the details that
        must be in the letter (or the problem)."""
        a, letters = self.a, self.settings.letters
        allowed = wording.channels(a.channels)
        methods: list[str] = []
        needles: list[str] = []
        if not allowed or "email" in allowed:
            addresses = wording.words_list(self.route, "or")
            methods.append(f"By email to {addresses}")
            needles += self.route
        if "phone" in allowed or (not allowed and a.spoc_phone):
            if not a.spoc_phone:
                return methods, (
                    "the register allows telephone contact but has no spoc_phone (the SPOC's "
                    "telephone number)"
                )
            methods.append(f"By telephone on {a.spoc_phone}")
            needles.append(a.spoc_phone)
        if "letter" in allowed:
            if not letters.organisation_address:
                return methods, (
                    "the register allows contact by letter but [letters] organisation_address "
                    "is not set"
                )
            address = ", ".join(letters.organisation_address)
            methods.append(f"By letter to {a.spoc.name}, {address}")
            needles.append(letters.organisation_address[0])
        return methods, needles

    def _cover(self, ctx: dict[str, Any], checks: Checks) -> None:
        a = self.a
        found = self._cover_notice() if self.kind.name == "cover-notice" else None
        if found is not None:
            self.cover_dates, officer = found[:2], found[2]
            self.cover_officer = officer or a.cover
        cover = self.cover_officer
        # The register's cover_phone is its cover officer's; another officer's is not known.
        phone = a.cover_phone if cover is not None and cover is a.cover else ""
        ctx |= {
            "cover_name": " ".join(cover.name.split()) if cover else "",
            "cover_phone": phone,
            "cover_from": "",
            "cover_to": "",
        }
        if self.kind.name != "cover-notice":
            return
        if cover is None:
            checks["cover"] = "the register names no cover officer (cover_name, cover_email)"
        elif "phone" in wording.channels(a.channels) and not phone:
            checks["cover"] = (
                "the register allows telephone contact but has no cover_phone (the cover "
                "officer's telephone number)"
                if cover is a.cover
                else f"the register allows telephone contact but has no telephone number for "
                f"{cover.name}, the officer named by the cover notice (cover_phone is the "
                "register's cover officer's)"
            )
        else:
            checks["cover"] = [ctx["cover_name"], self.route[0]] + ([phone] if phone else [])
        if self.cover_dates is None:
            checks["cover_dates"] = (
                "give --from and --to, or record the cover notice (`spocbot arrangement "
                "cover-notice`) or the SPOC's absence (`spocbot officer absence add`)"
            )
        else:
            first, last = self.cover_dates
            ctx["cover_from"], ctx["cover_to"] = long_date(first), long_date(last)
            checks["cover_dates"] = [ctx["cover_from"], ctx["cover_to"]]

    def _cover_notice(self) -> tuple[date, date, m.Officer | None] | None:
        """The cover's dates and officer: the recorded cover notice for the dates asked (or,
        without dates, the latest recorded that has not ended), else the dates asked or the
        SPOC's recorded absence with the register's cover officer."""
        o = self.options
        notices = sorted(
            (e for e in self.a.events if e.kind == EventKind.COVER_NOTICE and e.until),
            key=lambda e: e.id,
        )
        ref = self.customer.ref
        if o.cover_from and o.cover_to:
            if o.cover_to < o.cover_from:
                raise LetterError("--to must not be before --from")
            for notice in reversed(notices):
                assert notice.until is not None
                if notice.on <= o.cover_from and o.cover_to <= notice.until:
                    return o.cover_from, o.cover_to, notice.officer
            self.warnings.append(
                f"no cover notice is recorded for {ref} from {o.cover_from} to {o.cover_to}: "
                f"record it (`spocbot arrangement cover-notice {ref}`)"
            )
            return o.cover_from, o.cover_to, None
        if o.cover_from or o.cover_to:
            raise LetterError("give both --from and --to for a cover notice, or neither")
        for notice in reversed(notices):
            assert notice.until is not None
            if notice.until >= o.as_of:
                return notice.on, notice.until, notice.officer
        absence = self.session.scalar(
            select(m.OfficerAbsence)
            .where(
                m.OfficerAbsence.officer_id == self.a.spoc_id,
                m.OfficerAbsence.ends_on >= o.as_of,
            )
            .order_by(m.OfficerAbsence.starts_on)
        )
        if absence is None:
            return None
        self.warnings.append(
            f"no cover notice is recorded for {ref} from {absence.starts_on} to "
            f"{absence.ends_on} (the SPOC's absence): record it (`spocbot arrangement "
            f"cover-notice {ref}`)"
        )
        return absence.starts_on, absence.ends_on, None

    def _referral(self) -> dict[str, Any]:
        """The referral form's own facts: support needs and the evidence recorded."""
        a, zone = self.a, ZoneInfo(self.settings.organisation.timezone)
        breaches = list(
            self.session.scalars(
                select(m.Breach)
                .where(m.Breach.customer_id == a.customer_id)
                .order_by(m.Breach.received_at)
            )
        )
        contacts = self.session.scalar(
            select(m.Contact.id).where(m.Contact.customer_id == a.customer_id).limit(1)
        )
        evidence = [
            f"{b.received_at.astimezone(zone).strftime('%-d %B %Y %H:%M')}: {b.reason}"
            for b in breaches[-20:]
        ]
        return {
            "support_needs": " ".join(a.support_needs.split()),
            "customer_emails": [e.address for e in self.customer.emails],
            "customer_address": [x.strip() for x in a.customer_address.split(";") if x.strip()],
            "cover_email": a.cover.email if a.cover else "",
            "breach_count": len(breaches),
            "evidence": evidence,
            "contacts_recorded": contacts is not None,
            "referred_by": self.options.operator,
        }

    def _key(self, decided: date | None, ended: date | None) -> tuple[str, str]:
        """What the letter is about: one letter per decision (review, appeal, cover...)."""
        name, as_of = self.kind.name, self.options.as_of
        if name in ("introduction", "cease-and-desist"):
            on = decided or as_of
            return f"{name}:{on.isoformat()}", f"decision of {long_date(on)}"
        if name == "review-outcome":
            on = decided or as_of
            return (
                f"{name}:{on.isoformat()}:{self.outcome}",
                f"review of {long_date(on)}: {self.outcome}",
            )
        if name == "appeal-outcome":
            ident = self.appeal.id if self.appeal else "none"
            return f"{name}:{ident}:{self.outcome}", f"appeal decided {long_date(decided or as_of)}"
        if name == "cover-notice":
            dates = self.cover_dates
            if dates:
                return (
                    f"{name}:{dates[0].isoformat()}:{dates[1].isoformat()}",
                    f"cover {long_date(dates[0])} to {long_date(dates[1])}",
                )
        if name == "end" and ended:
            return f"{name}:{ended.isoformat()}", f"ended {long_date(ended)}"
        return f"{name}:{as_of.isoformat()}", f"dated {long_date(as_of)}"
