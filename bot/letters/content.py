"""What a letter says: its context from the register and the configuration, checked three
times for the elements the policy requires.

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
to the customer (reasons only) and the DMO's referral form (both), and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.errors import DomainError
from bot.letters import wording
from bot.letters.blocks import Block, BlockFormatError, mark_value, parse_blocks, plain_text
from bot.letters.kinds import ELEMENTS, KINDS, Kind
from bot.store import models as m
from bot.templating import DEFAULT_TEMPLATES
from mailbox_rules.calendar import APPEAL_WINDOW_DAYS, appeal_deadline, long_date

LETTER_TEMPLATES = DEFAULT_TEMPLATES / "letters"


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
        select(m.Arrangement).join(m.Customer).where(m.Customer.ref == customer_ref)
    )
    if arrangement is None:
        raise LetterError(
            f"there is no arrangement for customer {customer_ref!r} in the register "
            "(`spocbot register list`)"
        )
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
    env = letter_environment(templates_dir)
    try:
        rendered = env.get_template(name).render(**context)
    except TemplateNotFound as exc:
        raise LetterError(f"the letter template {exc.name} was not found") from None
    except TemplateSyntaxError as exc:
        raise LetterError(
            f"the letter template {exc.filename or name} has an error on line {exc.lineno}: "
            f"{exc.message}"
        ) from None
    except UndefinedError as exc:
        raise LetterError(
            f"the letter template {name} uses something this letter does not have ({exc.message});"
            " templates/letters/README.md lists what each letter can use"
        ) from None
    except TemplateError as exc:
        raise LetterError(f"the letter template {name} cannot be rendered: {exc}") from None
    try:
        return parse_blocks(rendered)
    except BlockFormatError as exc:
        raise LetterError(f"the letter template {name}: {exc}") from None


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
    return " ".join(text.split()).casefold()


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
        self.outcome = self._outcome()
        self.cover_dates: tuple[date, date] | None = None
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
            self.recipient_address = ("Data Management Officer", settings.organisation.name)
            self.reply_to = arrangement.spoc.email

    # -- the outcome and the decision -------------------------------------------------------

    def _latest_event(self, *kinds: str) -> m.ArrangementEvent | None:
        events = [e for e in self.a.events if e.kind in kinds]
        return max(events, key=lambda e: (e.on, e.id)) if events else None

    def _latest_appeal(self) -> m.Appeal | None:
        decided = [x for x in self.a.appeals if x.status == "decided" and x.decided_on]
        return max(decided, key=lambda x: (x.decided_on or date.min, x.id)) if decided else None

    def _outcome(self) -> str | None:
        if not self.kind.outcomes:
            if self.options.outcome:
                raise LetterError(f"the {self.kind.name} letter takes no --outcome")
            return None
        recorded = None
        if self.kind.name == "review-outcome":
            event = self._latest_event("review")
            recorded = event.outcome if event else None
        else:
            appeal = self._latest_appeal()
            recorded = appeal.outcome if appeal else None
        given = self.options.outcome
        if given and given not in self.kind.outcomes:
            raise LetterError(
                f"--outcome for the {self.kind.name} letter is one of: "
                f"{', '.join(self.kind.outcomes)}"
            )
        if given and recorded and given != recorded:
            raise LetterError(
                f"the {self.kind.name} recorded for {self.customer.ref} is {recorded!r}, not "
                f"{given!r}; correct the record, or leave out --outcome"
            )
        outcome = given or recorded
        return outcome if outcome in self.kind.outcomes else None

    def _decision_date(self) -> date | None:
        """The date of the decision this letter tells of, from which the appeal period runs."""
        name = self.kind.name
        if name == "review-outcome":
            event = self._latest_event("review")
            return event.on if event else self.a.decided_on
        if name == "appeal-outcome":
            appeal = self._latest_appeal()
            return appeal.decided_on if appeal else None
        if name == "cease-and-desist":
            event = self._latest_event("cease_and_desist", "cease-and-desist")
            return event.on if event else self.a.decided_on
        event = self._latest_event("decision")
        return self.a.decided_on or (event.on if event else None)

    def _end_date(self) -> date | None:
        if self.a.ended_on:
            return self.a.ended_on
        if self.kind.name == "review-outcome":
            event = self._latest_event("review")
            if event is not None and event.outcome == "ended":
                return event.on
        if self.kind.name == "appeal-outcome" and self.outcome == "upheld":
            appeal = self._latest_appeal()
            return appeal.decided_on if appeal else None
        event = self._latest_event("end", "lapse", "ended", "lapsed")
        return event.on if event else None

    def _review_date(self) -> date:
        if self.kind.name == "review-outcome":
            event = self._latest_event("review")
            if event is not None and event.next_review:
                return event.next_review
        return self.a.review_date

    def _cover_dates(self) -> tuple[date, date] | None:
        o = self.options
        if o.cover_from and o.cover_to:
            if o.cover_to < o.cover_from:
                raise LetterError("--to must not be before --from")
            return o.cover_from, o.cover_to
        if o.cover_from or o.cover_to:
            raise LetterError("give both --from and --to for a cover notice, or neither")
        absence = self.session.scalar(
            select(m.OfficerAbsence)
            .where(
                m.OfficerAbsence.officer_id == self.a.spoc_id,
                m.OfficerAbsence.ends_on >= o.as_of,
            )
            .order_by(m.OfficerAbsence.starts_on)
        )
        return (absence.starts_on, absence.ends_on) if absence else None

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
                else f"no {self.kind.name.replace('-outcome', '')} is recorded for "
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
        cease = a.status == "cease_and_desist" or self.kind.name == "cease-and-desist"
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

        decided = self._decision_date()
        ctx |= {
            "decision_date": long_date(decided) if decided else "",
            "appeal_days": APPEAL_WINDOW_DAYS,
            "appeal_by": long_date(appeal_deadline(decided)) if decided else "",
            "appeals_to": s.appeals_to,
            "appeals_postal_address": list(letters.appeals_postal_address),
        }
        if decided is None:
            what = {
                "appeal-outcome": "the date the appeal was decided is not recorded: record the "
                "appeal's decision",
                "review-outcome": "the date of the review is not recorded: record the review",
            }.get(
                self.kind.name,
                "the date of the decision is not recorded (decided_on): record the decision",
            )
            checks["appeal"] = (
                f"{what}, so that the {APPEAL_WINDOW_DAYS}-day appeal period can be counted"
            )
        else:
            checks["appeal"] = [long_date(appeal_deadline(decided)), s.appeals_to]

        # The customer's own letters say why; the DMO's form also says what support they need.
        ctx["reasons"] = " ".join(a.reasons.split())
        ctx["change_required"] = " ".join(a.change_required.split())
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
        cover = a.cover
        ctx |= {
            "cover_name": cover.name if cover else "",
            "cover_phone": a.cover_phone,
            "cover_from": "",
            "cover_to": "",
        }
        if self.kind.name != "cover-notice":
            return
        if cover is None:
            checks["cover"] = "the register names no cover officer (cover_name, cover_email)"
        elif "phone" in wording.channels(a.channels) and not a.cover_phone:
            checks["cover"] = (
                "the register allows telephone contact but has no cover_phone (the cover "
                "officer's telephone number)"
            )
        else:
            checks["cover"] = [cover.name, self.route[0]] + (
                [a.cover_phone] if a.cover_phone else []
            )
        dates = self._cover_dates()
        if dates is None:
            checks["cover_dates"] = (
                "give --from and --to, or record the SPOC's absence (`spocbot officer absence add`)"
            )
        else:
            ctx["cover_from"], ctx["cover_to"] = long_date(dates[0]), long_date(dates[1])
            checks["cover_dates"] = [ctx["cover_from"], ctx["cover_to"]]
        self.cover_dates = dates

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
            appeal = self._latest_appeal()
            ident = appeal.id if appeal else "none"
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
