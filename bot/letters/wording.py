"""An arrangement's restrictions and contact routes in the plain words a letter uses.

Pure functions of the register's values (as stored: ``channels`` "email;phone", contact hours
"Mon-Fri 09:00-17:00", limits "3/week"), so each sentence can be checked in microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time

from mailbox_rules.restrictions import ContactHours, Limit, Period, Window

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CHANNEL_WORDS = {"email": "email", "letter": "letter", "phone": "telephone"}


def words_list(items: Sequence[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def clock(t: time) -> str:
    """``9am``, ``5.30pm``, ``midnight`` (the register's 24:00)."""
    if t >= time(23, 59, 59):
        return "midnight"
    if t == time(12, 0):
        return "midday"
    hour = t.hour % 12 or 12
    suffix = "am" if t.hour < 12 else "pm"
    return f"{hour}{suffix}" if t.minute == 0 else f"{hour}.{t.minute:02d}{suffix}"


def _days(window: Window) -> str:
    days = sorted(window.days)
    if len(days) == 7:
        return "any day"
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts = [
        DAY_NAMES[r[0]] if len(r) == 1 else f"{DAY_NAMES[r[0]]} to {DAY_NAMES[r[-1]]}" for r in runs
    ]
    return words_list(parts)


def contact_hours(text: str) -> str:
    """``Mon-Fri 09:00-17:00; Sat 10:00-12:00`` as ``Monday to Friday, 9am to 5pm; and
    Saturday, 10am to midday``."""
    hours = ContactHours.parse(text)
    parts = [f"{_days(w)}, {clock(w.start)} to {clock(w.end)}" for w in hours.windows]
    return parts[0] if len(parts) == 1 else f"{'; '.join(parts[:-1])}; and {parts[-1]}"


def limit(text: str, noun: str) -> str:
    """``3/week`` as ``3 contacts a week (Monday to Sunday)``."""
    value = Limit.parse(text)
    period = "week (Monday to Sunday)" if value.period is Period.WEEK else "calendar month"
    plural = noun if value.count == 1 else f"{noun}s"
    return f"{value.count} {plural} a {period}"


def channels(text: str) -> tuple[str, ...]:
    """The channels allowed, in a fixed order (email, letter, phone); empty: any."""
    given = {c.strip().lower() for c in text.split(";") if c.strip()}
    return tuple(c for c in CHANNEL_WORDS if c in given)


def restrictions(
    *,
    spoc_name: str,
    channels_text: str,
    contact_hours_text: str,
    max_contacts: str,
    max_issues: str,
    subject_matters: str,
    office_visits: str,
    permitted: Sequence[str],
    cease_and_desist: bool = False,
    third_person: bool = False,
) -> list[str]:
    """Each restriction in force as one sentence, the single point of contact first (a cease
    and desist before it).  To the customer ("Contact us only by..."), or with
    ``third_person`` about them ("The customer may contact us only by..."), as the DMO's
    referral form puts it."""
    only = "The customer may contact us only" if third_person else "Contact us only"
    out: list[str] = []
    if cease_and_desist:
        sender = "the customer sends" if third_person else "you send"
        out.append(f"Anything {sender} us will be acknowledged but not answered.")
    if third_person:
        out.append(
            f"All the customer's contact with us must go through {spoc_name}, their single "
            "point of contact."
        )
    else:
        out.append(
            f"All your contact with us must go through {spoc_name}, your single point of contact."
        )
    if permitted:
        addresses = words_list(list(permitted), "or")
        if third_person:
            sentence = (
                f"The customer may write only to {addresses}. Messages they send to other staff "
                f"or other addresses are passed to {spoc_name}"
            )
        else:
            sentence = (
                f"Write only to {addresses}. Messages you send to other staff or other "
                "addresses will be passed to your single point of contact"
            )
        # Under cease and desist nothing is answered, so no one is said to answer instead.
        tail = (
            "" if cease_and_desist else " and will not be answered by the person you sent them to"
        )
        if third_person and tail:
            tail = ", not answered by the person they were sent to"
        out.append(f"{sentence}{tail}.")
    allowed = channels(channels_text)
    if allowed:
        out.append(f"{only} by {words_list([CHANNEL_WORDS[c] for c in allowed], 'or')}.")
    if contact_hours_text:
        out.append(f"{only} at these times: {contact_hours(contact_hours_text)}.")
    if max_contacts:
        limit_text = limit(max_contacts, "time")
        out.append(
            f"The customer may contact us no more than {limit_text}."
            if third_person
            else f"Contact us no more than {limit_text}."
        )
    if max_issues:
        whose = " from the customer" if third_person else ""
        out.append(f"We will consider no more than {limit(max_issues, 'new issue')}{whose}.")
    if subject_matters:
        topics = [t.strip() for t in subject_matters.split(";") if t.strip()]
        out.append(f"{only} about {words_list(topics, 'or')}.")
    if office_visits.strip():
        text = " ".join(office_visits.split())
        text = text if text.endswith(".") else f"{text}."
        out.append(f"Office visits: {text}" if third_person else text)
    return out
