"""The configured policy: the decision core with this organisation's settings applied.

The watcher and the review queue decide messages the same way; this is where the settings
(DMO, time zone, topics, emergency phrases and route, matching options) meet
:func:`mailbox_rules.decide`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.register_service import snapshot
from mailbox_rules import Decision, Envelope, PriorContact, Register, decide
from mailbox_rules.register import Officer


class Policy:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.dmo = Officer("the Data Management Officer", settings.organisation.dmo_email)
        self.zone = ZoneInfo(settings.organisation.timezone)
        emergency = settings.emergency
        self.emergency_route = (
            Officer(emergency.name, emergency.forward_to) if emergency.forward_to else None
        )

    def register(self, session: Session, watched: Iterable[str] | None = None) -> Register:
        """The register as the core sees it, with the configured matching options."""
        settings = self._settings
        return snapshot(
            session,
            [mb.address for mb in settings.watched] if watched is None else watched,
            settings.matching.strip_subaddress_domains,
            settings.organisation.staff_domains,
            settings.matching.possible_matches,
            {mb.address for mb in settings.mailboxes}
            | {settings.organisation.dmo_email, settings.organisation.bot_address},
        )

    def decide(
        self,
        envelope: Envelope,
        register: Register,
        now: datetime,
        history: Sequence[PriorContact],
        content: str | None,
        *,
        confirmed_customer: str | None = None,
    ) -> Decision:
        return decide(
            envelope,
            register,
            now,
            dmo=self.dmo,
            zone=self.zone,
            history=history,
            content=content,
            topics=self._settings.topics,
            emergency_phrases=self._settings.emergency.phrase_list,
            emergency_route=self.emergency_route,
            confirmed_customer=confirmed_customer,
        )
