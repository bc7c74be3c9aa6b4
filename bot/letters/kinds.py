"""The letters spocbot writes, and the elements each must contain (policy, "Letters").

Every *decision* letter states the seven elements the policy requires (:data:`DECISION`):
the reasons, the change required, the SPOC's name, the contact method details, the
restrictions, how long the arrangement lasts and its review date, and how to appeal; every
letter to a customer also states the emergency route.  An appeal's outcome is the last
internal stage: its letter states the route beyond it (:data:`BEYOND_APPEAL`) instead of an
appeal date.  Other letters have their own elements
(a cover notice: the cover officer, their contact details and the dates).
"""

from __future__ import annotations

from dataclasses import dataclass

# Element keys, with what each is called in a refusal.
ELEMENTS: dict[str, str] = {
    "reasons": "the reasons for the decision",
    "change_required": "the change required",
    "spoc": "the SPOC's name",
    "contact": "the contact method details",
    "restrictions": "the restrictions",
    "duration": "how long the arrangement lasts and its review date",
    "appeal": "how to appeal (by which date, and to whom)",
    "emergency": "the emergency route",
    "outcome": "the outcome",
    "review_timescale": "when the behaviour will be reviewed",
    "cover": "the cover officer and their contact details",
    "cover_dates": "the dates of the cover",
    "end_date": "the date the arrangement ended",
    "cease": "that further communications will be acknowledged but not answered",
    "beyond_appeal": "what the customer can do if they still disagree after the appeal",
}

BEYOND_APPEAL: tuple[str, ...] = ("complaints procedure", "Housing Ombudsman")
"""The words an appeal outcome letter must hold instead of an appeal date: an appeal's
outcome is the last internal stage (see :func:`bot.lifecycle.decision_in_force`), so the
customer is told of the route beyond it, the complaints procedure and then the Housing
Ombudsman."""

DECISION: tuple[str, ...] = (
    "reasons",
    "change_required",
    "spoc",
    "contact",
    "restrictions",
    "duration",
    "appeal",
    "emergency",
)
"""The seven elements of a decision letter, and the emergency route."""

REVIEW_OUTCOMES = ("continued", "varied", "ended")
APPEAL_OUTCOMES = ("dismissed", "varied", "upheld")  # upheld: the decision does not stand


@dataclass(frozen=True)
class Kind:
    name: str
    summary: str
    to_customer: bool = True
    outcomes: tuple[str, ...] = ()  # the --outcome values, for kinds that have one
    options: str = ""  # what `letter kinds` says about the options it takes

    @property
    def template(self) -> str:
        return f"{self.name}.txt.j2"

    def elements(self, outcome: str | None) -> tuple[str, ...]:
        """The elements this letter must contain (with this outcome)."""
        if self.name == "introduction":
            return DECISION
        if self.name == "review-outcome":
            return (
                ("outcome", "end_date", "emergency")
                if outcome == "ended"
                else (
                    "outcome",
                    *DECISION,
                )
            )
        if self.name == "appeal-outcome":
            if outcome == "upheld":
                return ("outcome", "end_date", "emergency")
            # The last internal stage: the route beyond it instead of a fresh appeal.
            return (
                "outcome",
                *(e for e in DECISION if e != "appeal"),
                "beyond_appeal",
            )
        if self.name == "cease-and-desist":
            return (*DECISION, "cease")
        if self.name == "fair-treatment":
            return ("change_required", "review_timescale", "emergency")
        if self.name == "cover-notice":
            return ("cover", "cover_dates", "emergency")
        if self.name == "end":
            return ("end_date", "emergency")
        if self.name == "referral-form":
            return ("reasons", "spoc")
        raise AssertionError(self.name)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("introduction", "the decision imposing a SPOC arrangement (appendix A)"),
        Kind(
            "review-outcome",
            "the outcome of a review: continued, varied or ended (appendix B)",
            outcomes=REVIEW_OUTCOMES,
            options="--outcome (default: the last review recorded)",
        ),
        Kind(
            "fair-treatment",
            "the warning stage: the behaviour expected and when it will be reviewed",
        ),
        Kind(
            "cover-notice",
            "a temporary change of contact while the SPOC is away",
            options="--from/--to (default: the cover notice recorded, else the SPOC's "
            "recorded absence)",
        ),
        Kind(
            "cease-and-desist",
            "contact refused; further communications acknowledged but not answered (§5)",
        ),
        Kind(
            "appeal-outcome",
            "the outcome of an appeal: dismissed, varied or upheld",
            outcomes=APPEAL_OUTCOMES,
            options="--outcome (default: the last appeal decided)",
        ),
        Kind("end", "the end of the arrangement"),
        Kind(
            "referral-form",
            "the internal referral form to the DMO (appendix C); goes to the DMO",
            to_customer=False,
        ),
    )
}
