"""The watcher: one pass over every watched mailbox, and the daemon loop around it.

For each watched folder a pass reads only what is new since the stored cursor (UIDVALIDITY,
highest UID handled), decides each message with :func:`mailbox_rules.decide` from its headers
alone, fetches the whole message only when it needs action (evidence, forward or quarantine),
and records the outcome **and** advances the cursor in one transaction per message.  Then the
outbox is delivered (see :mod:`bot.outbox`).

A message that cannot be handled is quarantined with its reason and the pass goes on; a mail
server that cannot be reached stops that mailbox for this pass only, and the daemon retries with
capped exponential backoff.  Logs name mailboxes, UIDs and decisions, never message content.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.audit import WATCHER, audit
from bot.config import Mailbox, Settings
from bot.crashpoints import crash_point
from bot.evidence import Evidence, EvidenceError, EvidenceStore
from bot.log_privacy import address as log_address
from bot.log_privacy import stack_without_messages
from bot.mail.ports import (
    AbsenceSource,
    HeaderItem,
    MailAuthError,
    MailError,
    MailServerError,
    MailStore,
    MessageRefused,
)
from bot.outbox import DeliveryReport, OutboxSender
from bot.policy import Policy
from bot.recording import (
    HISTORY_WINDOW,
    add_quarantine,
    advance_cursor,
    expired,
    prior_contacts,
    record_acknowledgement,
    record_decision,
    record_processed,
)
from bot.store import models as m
from mailbox_rules import (
    Absence,
    ArrangementStatus,
    Decision,
    DecisionKind,
    Envelope,
    PriorContact,
    Register,
    arrangement_of,
    header_block,
    message_text,
    parse_envelope,
)

log = logging.getLogger(__name__)

# Failures of our own storage: they say nothing about the message being handled, so the
# message must never be quarantined for them (it is retried on the next pass instead).
_LOCAL_FAILURES = (EvidenceError, SQLAlchemyError, OSError)
_INFRASTRUCTURE = (MailServerError, EvidenceError, SQLAlchemyError, OSError)


@dataclass
class PassReport:
    """What one pass did, in counts (safe to log and print)."""

    folders_checked: int = 0
    headers_fetched: int = 0
    raw_fetched: int = 0
    text_scanned: int = 0  # unknown senders' messages read for a customer's ref or name
    decisions: Counter[str] = field(default_factory=Counter)
    new_breaches: int = 0
    quarantined: int = 0
    to_review: int = 0
    errors: list[str] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)  # e.g. failed forwards awaiting a person
    warnings: list[str] = field(default_factory=list)  # said, but not a failure of the pass
    new_folders: int = 0  # folders read for the first time (from the since date)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.delivery.errors

    def as_dict(self) -> dict[str, object]:
        return {
            "folders_checked": self.folders_checked,
            "headers_fetched": self.headers_fetched,
            "full_messages_fetched": self.raw_fetched,
            "texts_scanned": self.text_scanned,
            "decisions": dict(self.decisions),
            "new_breaches": self.new_breaches,
            "quarantined": self.quarantined,
            "to_review": self.to_review,
            "forwards_sent": self.delivery.sent,
            "forwards_recovered": self.delivery.recovered,
            "forwards_deferred": self.delivery.deferred,
            "forwards_failed": self.delivery.failed,
            "errors": self.errors + self.delivery.errors,
            "needs_attention": self.attention,
            "warnings": self.warnings,
            "new_folders": self.new_folders,
        }


class Watcher:
    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        stores: Mapping[str, MailStore],
        outbox: OutboxSender,
        evidence: EvidenceStore,
        *,
        clock: Callable[[], datetime],
        absences: AbsenceSource | None = None,
        since: datetime | None = None,
    ) -> None:
        self._settings = settings
        self._absences = absences
        self._since = since or datetime.min.replace(tzinfo=UTC)
        self._factory = factory
        self._stores = stores
        self._outbox = outbox
        self._evidence = evidence
        self._clock = clock
        self._policy = Policy(settings)

    # -- one pass ------------------------------------------------------------------------------

    def run_pass(self) -> PassReport:
        """Scan every watched folder, then send what is due; failures are reported, not raised."""
        report = PassReport()
        can_send = True
        try:
            self._outbox.recover(report.delivery)
        except _INFRASTRUCTURE as exc:
            # Never send while an interrupted send is unsettled; scanning (recording) is safe.
            report.errors.append(
                f"cannot check the bot mailbox, so nothing is sent this pass: {_describe(exc)}"
            )
            can_send = False
        try:
            self._scan_all(report)
        except _LOCAL_FAILURES as exc:
            # The database or evidence store failed: nothing past the failing message was
            # recorded or moved, so the next pass starts from the same place.
            report.errors.append(f"scanning stopped: {_describe(exc)}")
        if can_send:
            try:
                self._outbox.deliver(report.delivery)
            except _INFRASTRUCTURE as exc:
                report.delivery.errors.append(f"cannot send forwards: {_describe(exc)}")
        try:
            report.attention.extend(self._outbox.needs_attention())
        except _LOCAL_FAILURES as exc:
            report.errors.append(f"cannot list failed forwards: {_describe(exc)}")
        return report

    def _scan_all(self, report: PassReport) -> None:
        with self._factory() as session:
            register = self._with_outside_absences(self._policy.register(session))
        if not register.arrangements:
            report.warnings.append(
                "the register is empty, so no message can be a breach: import it with "
                "`spocbot register import`, then `spocbot rescan --since DATE` for mail "
                "already seen"
            )
        for mailbox in self._settings.watched:
            store = self._stores[mailbox.address]
            for folder in mailbox.folders:
                try:
                    self._scan(store, mailbox, folder, register, report)
                except MailAuthError as exc:
                    report.errors.append(f"{mailbox.address}: {exc}")
                    break
                except MailServerError as exc:
                    # e.g. a folder that does not exist: report it and go on to the next folder
                    report.errors.append(f"{mailbox.address}/{folder}: {exc}")
                    store.close()

    def _with_outside_absences(self, register: Register) -> Register:
        """The register with the officers another system says are away today added to its
        absences (Outlook's automatic replies on Graph)."""
        if self._absences is None or not register.arrangements:
            return register
        officers = {a.spoc.email for a in register.arrangements} | {
            a.cover.email for a in register.arrangements if a.cover is not None
        }
        now = self._clock()
        away = self._absences.absent(officers, now)
        if not away:
            return register
        today = now.astimezone(self._policy.zone).date()
        extra = tuple(Absence(email, today, today) for email in sorted(away))
        return dataclasses.replace(register, absences=(*register.absences, *extra))

    def _scan(
        self,
        store: MailStore,
        mailbox: Mailbox,
        folder: str,
        register: Register,
        report: PassReport,
    ) -> None:
        state = store.select(folder)
        report.folders_checked += 1
        last_uid = self._cursor(store, mailbox.address, folder, state.uidvalidity, report)
        if state.uidnext - 1 <= last_uid:
            return  # nothing new: one SELECT, no fetch
        to_tag: list[int] = []
        ignored = _IgnoredBatch(mailbox.address, folder, state.uidvalidity)
        headers = store.headers_after(folder, last_uid, self._settings.watch.header_batch)
        try:
            for chunk in _chunks(headers, TEXT_CHUNK):
                prepared = self._prepare(store, mailbox.address, folder, chunk, register, report)
                for item in chunk:
                    report.headers_fetched += 1
                    acted = self._handle(
                        store,
                        mailbox.address,
                        folder,
                        state.uidvalidity,
                        item,
                        register,
                        report,
                        ignored,
                        prepared.get(item.uid),
                    )
                    if acted:
                        to_tag.append(item.uid)
                    if len(to_tag) >= 100:
                        self._tag(store, folder, to_tag)
                        to_tag = []
                    if len(ignored) >= self._settings.watch.header_batch:
                        self._flush(ignored)
        finally:
            self._flush(ignored)
        self._tag(store, folder, to_tag)

    def _flush(self, ignored: _IgnoredBatch) -> None:
        """Record a run of ignored messages and move the cursor past them in one transaction.

        Ignored messages cause no effects, so batching their bookkeeping is safe: after a crash
        they are simply decided again.  Messages that need action get their own transaction.
        """
        if not ignored:
            return
        with self._factory.begin() as session:
            for envelope, decision, item in ignored.entries:
                record_processed(session, envelope, decision, item.uid, ignored.uidvalidity)
            advance_cursor(session, ignored.mailbox, ignored.folder, ignored.entries[-1][2].uid)
        ignored.entries.clear()

    def _tag(self, store: MailStore, folder: str, uids: Sequence[int]) -> None:
        watch = self._settings.watch
        if uids and (watch.tag_keyword or watch.mark_seen):
            store.tag(folder, uids, watch.tag_keyword, watch.mark_seen)

    def _cursor(
        self, store: MailStore, mailbox: str, folder: str, uidvalidity: int, report: PassReport
    ) -> int:
        with self._factory.begin() as session:
            cursor = session.scalar(
                select(m.MailboxCursor).where(
                    m.MailboxCursor.mailbox == mailbox, m.MailboxCursor.folder == folder
                )
            )
            if cursor is not None and cursor.uidvalidity == uidvalidity:
                return cursor.last_uid
            since_at = self._since
            if cursor is not None:  # read again from before it last moved on, at the latest
                since_at = min(since_at, cursor.updated_at - timedelta(days=1))
            start = store.start_uid(folder, since_at)
            since = since_at.date().isoformat()
            if cursor is None:
                report.new_folders += 1
                log.info(
                    "%s/%s: first pass; reading mail received since %s",
                    log_address(mailbox),
                    folder,
                    since,
                )
                session.add(
                    m.MailboxCursor(
                        mailbox=mailbox, folder=folder, uidvalidity=uidvalidity, last_uid=start
                    )
                )
                return start
            log.warning(
                "%s/%s: UIDVALIDITY changed (%d -> %d); reading the folder again from mail "
                "received since %s (breaches and forwards already recorded are not repeated)",
                log_address(mailbox),
                folder,
                cursor.uidvalidity,
                uidvalidity,
                since,
            )
            cursor.uidvalidity = uidvalidity
            cursor.last_uid = start
            return start

    def _prepare(
        self,
        store: MailStore,
        mailbox: str,
        folder: str,
        chunk: Sequence[HeaderItem],
        register: Register,
        report: PassReport,
    ) -> dict[int, _Prepared]:
        """Decide a run of messages from their headers, and read in one request the start of
        every unknown sender's message that must be searched for a possible match.

        A message that fails here is left out and decided again (and quarantined if it fails
        again) by :meth:`_handle`; a failure to read the texts is the server's, and stops the
        folder for this pass before anything in the run is recorded.
        """
        prepared: dict[int, _Prepared] = {}
        for item in chunk:
            if item.error is not None:
                continue
            try:
                prepared[item.uid] = self._first_look(mailbox, folder, item, register)
            except Exception:
                continue
        wanted = [uid for uid, p in prepared.items() if p.wants_text]
        if wanted:
            texts = store.fetch_starts(folder, wanted, self._settings.matching.scan_bytes)
            report.text_scanned += len(texts)
            for uid in wanted:
                prepared[uid].text = texts.get(uid)
        return prepared

    def _first_look(
        self, mailbox: str, folder: str, item: HeaderItem, register: Register
    ) -> _Prepared:
        envelope = parse_envelope(
            item.header, found_in=mailbox, folder=folder, received_at=item.received_at
        )
        now = self._clock()
        history = self._history(envelope, register, now)
        decision = self._decide(envelope, register, now, history, None)
        return _Prepared(envelope, now, history, decision)

    def _handle(
        self,
        store: MailStore,
        mailbox: str,
        folder: str,
        uidvalidity: int,
        item: HeaderItem,
        register: Register,
        report: PassReport,
        ignored: _IgnoredBatch,
        prepared: _Prepared | None = None,
    ) -> bool:
        """Decide and record one message; True if it was acted on (and so is tagged)."""
        where = f"{log_address(mailbox)}/{folder} UID {item.uid}"
        if item.error is not None:
            log.error("%s: the server would not return it; quarantined", where)
            self._flush(ignored)
            self._quarantine(
                store,
                mailbox,
                folder,
                uidvalidity,
                item,
                RuntimeError(f"the mail server would not return it: {item.error}"),
                report,
            )
            return False
        try:
            if prepared is None or prepared.decision.kind is not DecisionKind.IGNORE:
                # Decided now, not with its run: a customer's limits count the messages
                # recorded just before this one.
                prepared = self._first_look(mailbox, folder, item, register)
            envelope, now, history, decision = (
                prepared.envelope,
                prepared.now,
                prepared.history,
                prepared.decision,
            )
            if prepared.wants_text:
                # An unknown sender: search the start of the text for a customer's ref or name.
                start = prepared.text
                if start is None:  # not read with its run (it vanished, or the run failed)
                    scan_bytes = self._settings.matching.scan_bytes
                    start = store.fetch_starts(folder, [item.uid], scan_bytes).get(item.uid)
                    if start is None:
                        raise MailServerError(f"{where} vanished before its text could be read")
                    report.text_scanned += 1
                decision = self._decide(envelope, register, now, history, message_text(start))
            if decision.kind is DecisionKind.IGNORE:
                ignored.entries.append((envelope, decision, item))
                report.decisions[decision.kind.value] += 1
                return False
            too_large = item.size > self._settings.watch.max_message_bytes
            raw: bytes | None = None
            if not item.complete and not too_large:
                # A summary header (Graph) lacks the auto-reply and bounce markers: decide
                # again from the real header and the text before anything is kept or sent.
                raw = self._fetch_raw(store, folder, item.uid)
                report.raw_fetched += 1
                envelope = parse_envelope(
                    header_block(raw), found_in=mailbox, folder=folder, received_at=item.received_at
                )
                history = self._history(envelope, register, now)
                decision = self._decide(envelope, register, now, history, message_text(raw))
                if decision.kind is DecisionKind.IGNORE:
                    ignored.entries.append((envelope, decision, item))
                    report.decisions[decision.kind.value] += 1
                    return False
            self._flush(ignored)  # keep the cursor in order: earlier ignored messages first
            # A quarantine entry or review item that the retention purge or an erasure
            # deleted is not recorded again (a rescan reads the message again).  Checked
            # before the raw message is kept when the header decides it, and again once the
            # text has been read: the text can make it an emergency, never to be skipped.
            if (
                decision.kind is DecisionKind.REVIEW
                and not decision.needs_content
                and self._expired_copy(mailbox, folder, uidvalidity, item.uid, decision, too_large)
            ):
                self._record_expired(envelope, decision, item.uid, uidvalidity)
                return False
            evidence: Evidence | None = None
            if decision.needs_raw_message:
                if too_large:
                    decision = _too_large(decision, item.size)
                else:
                    if raw is None:
                        raw = self._fetch_raw(store, folder, item.uid)
                        report.raw_fetched += 1
                    evidence = self._evidence.keep(raw)
                    crash_point("after-evidence-write")
                    if decision.needs_content:  # e.g. subject matters: judged on the text
                        decision = self._decide(envelope, register, now, history, message_text(raw))
            if decision.kind is DecisionKind.REVIEW and self._expired_copy(
                mailbox, folder, uidvalidity, item.uid, decision, too_large
            ):
                # Its raw message, kept above to read the text, is left unreferenced: the
                # daily purge's sweep deletes it (bot.erasure.sweep_unreferenced).
                self._record_expired(envelope, decision, item.uid, uidvalidity)
                return False
            with self._factory.begin() as session:
                new_breach = record_decision(
                    session,
                    envelope,
                    decision,
                    item.uid,
                    uidvalidity,
                    evidence,
                    self._settings.organisation.bot_address,
                    now,
                )
                if new_breach:
                    _audit_breach(session, decision, mailbox, folder, now)
                record_acknowledgement(
                    session,
                    envelope,
                    decision,
                    evidence,
                    self._settings.organisation.bot_address,
                    now=now,
                    min_hours_between=self._settings.acknowledge.min_hours_between,
                    max_age_hours=self._settings.acknowledge.max_age_hours,
                )
                record_processed(session, envelope, decision, item.uid, uidvalidity)
                advance_cursor(session, mailbox, folder, item.uid)
            crash_point("after-decision-commit")
        except _INFRASTRUCTURE:
            raise  # infrastructure, not the message: stop; the cursor has not moved past it
        except Exception as exc:  # one bad message must never stop the service
            log.error(
                "%s could not be processed (%s); quarantined, with the reason (see `spocbot "
                "quarantine list`)\n%s",
                where,
                type(exc).__name__,
                stack_without_messages(exc),
            )
            self._flush(ignored)
            self._quarantine(store, mailbox, folder, uidvalidity, item, exc, report)
            return True
        report.decisions[decision.kind.value] += 1
        report.new_breaches += new_breach
        if decision.kind is DecisionKind.REVIEW:
            if "message-too-large" in decision.rules:
                report.quarantined += 1
            else:
                report.to_review += 1
        elif decision.kind is DecisionKind.EMERGENCY and decision.candidates:
            report.to_review += 1  # forwarded at once, and still waiting for whose it is
        log.debug(
            "%s: %s (%s)%s",
            where,
            decision.kind.value,
            ",".join(decision.rules),
            f" customer {decision.customer_ref}" if decision.customer_ref else "",
        )
        # Tagged: what was recorded.  Not what waits for a person in the review queue: a
        # colleague would read the tag as "dealt with".
        return decision.kind not in (DecisionKind.IGNORE, DecisionKind.REVIEW)

    def _fetch_raw(self, store: MailStore, folder: str, uid: int) -> bytes:
        """The whole message; a message the server will not return is told apart from an
        outage, so that one damaged message cannot stop its folder for ever.

        Only a refusal of this message (:class:`MessageRefused`) is held against it, and only
        if it is refused again once the folder has been opened afresh.  Throttling, an outage
        or a failure to open the folder is raised as such: the pass stops, the cursor stays,
        and the next pass tries again.
        """
        try:
            return store.fetch_raw(folder, uid)
        except MessageRefused as first:
            store.close()
            store.select(folder)  # raises if the server itself is unreachable
            try:
                return store.fetch_raw(folder, uid)
            except MessageRefused as again:
                raise UnreadableMessage(
                    f"the mail server would not return it ({first}; then {again})"
                ) from again

    def _decide(
        self,
        envelope: Envelope,
        register: Register,
        now: datetime,
        history: Sequence[PriorContact],
        content: str | None,
    ) -> Decision:
        return self._policy.decide(envelope, register, now, history, content)

    def _history(self, envelope: Envelope, register: Register, now: datetime) -> list[PriorContact]:
        """The customer's earlier contacts: for their limits, and to tell a reply in a known
        thread from a new issue (cease and desist: "new issue, please screen")."""
        arrangement = arrangement_of(envelope, register)
        in_force = (ArrangementStatus.ACTIVE, ArrangementStatus.CEASE_AND_DESIST)
        if arrangement is None or arrangement.status not in in_force:
            return []
        with self._factory() as session:
            return prior_contacts(session, arrangement.customer_ref, now - HISTORY_WINDOW)

    def _quarantine(
        self,
        store: MailStore,
        mailbox: str,
        folder: str,
        uidvalidity: int,
        item: HeaderItem,
        exc: Exception,
        report: PassReport,
    ) -> None:
        if self._expired(mailbox, folder, uidvalidity, item.uid, "quarantine"):
            with self._factory.begin() as session:
                advance_cursor(session, mailbox, folder, item.uid)
            return
        evidence: Evidence | None = None
        try:
            raw = store.fetch_raw(folder, item.uid)
            report.raw_fetched += 1
            evidence = self._evidence.keep(raw)
        except (MailError, EvidenceError):
            log.warning(
                "%s/%s UID %d: raw message not kept with the quarantine entry",
                log_address(mailbox),
                folder,
                item.uid,
            )
        with self._factory.begin() as session:
            added = add_quarantine(
                session,
                mailbox,
                folder,
                uidvalidity,
                item.uid,
                None,
                f"could not be processed: {type(exc).__name__}: {exc}",
                evidence,
            )
            advance_cursor(session, mailbox, folder, item.uid)
        report.quarantined += int(added)
        report.decisions["error"] += 1

    def _expired_copy(
        self,
        mailbox: str,
        folder: str,
        uidvalidity: int,
        uid: int,
        decision: Decision,
        too_large: bool,
    ) -> bool:
        """Whether this REVIEW decision's record (a quarantine entry for a message over the
        size limit, a review item otherwise) was deleted by the retention purge or an
        erasure."""
        over_size = too_large or "message-too-large" in decision.rules
        kind = "quarantine" if over_size else "review_item"
        return self._expired(mailbox, folder, uidvalidity, uid, kind)

    def _record_expired(
        self, envelope: Envelope, decision: Decision, uid: int, uidvalidity: int
    ) -> None:
        with self._factory.begin() as session:
            record_processed(session, envelope, decision, uid, uidvalidity)
            advance_cursor(session, envelope.found_in, envelope.folder, uid)

    def _expired(self, mailbox: str, folder: str, uidvalidity: int, uid: int, kind: str) -> bool:
        """Whether the retention purge or an erasure deleted this message's quarantine entry
        or review item (``kind``): then it is not recorded, nor its raw message kept, again
        (a rescan reads it again)."""
        with self._factory() as session:
            if not expired(session, kind, mailbox, folder, uidvalidity, uid):
                return False
        log.info(
            "%s/%s UID %d: its %s was deleted by the retention purge or an erasure; not "
            "recorded again",
            log_address(mailbox),
            folder,
            uid,
            kind.replace("_", " "),
        )
        return True

    # -- daemon --------------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, on_pass: Callable[[PassReport], None]) -> None:
        """Run passes until ``stop`` is set: every poll interval, backing off after failures."""
        watch = self._settings.watch
        failures = 0
        while not stop.is_set():
            try:
                report = self.run_pass()
            except Exception:  # a bug in a pass must not end the daemon; log and back off
                log.exception("watcher pass failed")
                report = PassReport(errors=["pass failed; see the log"])
            on_pass(report)
            if report.ok:
                failures, delay = 0, self._settings.poll_seconds
            else:
                failures += 1
                delay = min(
                    watch.retry_max_seconds, watch.retry_initial_seconds * 2 ** (failures - 1)
                )
                delay = max(delay * random.uniform(0.8, 1.2), 0.1)
                log.warning("pass had errors; next attempt in %.0f s", delay)
            stop.wait(delay)


class UnreadableMessage(Exception):
    """The server answers for the folder but will not return this message: quarantine it."""


def _describe(exc: Exception) -> str:
    """An error for operators: for database errors the driver's message, not the SQL and its
    parameters (which may hold Message-IDs and other personal data)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"database error: {exc.orig}"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {type(exc).__name__}"
    return str(exc) or type(exc).__name__


TEXT_CHUNK = 50
"""Messages decided together, so that unknown senders' texts are read in one request each run
(at most this many times ``[matching] scan_bytes`` held in memory)."""


@dataclass
class _Prepared:
    """A message decided from its headers, and the start of its text once read."""

    envelope: Envelope
    now: datetime
    history: list[PriorContact]
    decision: Decision
    text: bytes | None = None

    @property
    def wants_text(self) -> bool:
        return self.decision.kind is DecisionKind.IGNORE and self.decision.needs_content


def _chunks(items: Iterable[HeaderItem], size: int) -> Iterator[list[HeaderItem]]:
    chunk: list[HeaderItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class _IgnoredBatch:
    mailbox: str
    folder: str
    uidvalidity: int
    entries: list[tuple[Envelope, Decision, HeaderItem]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)


def _audit_breach(
    session: Session, decision: Decision, mailbox: str, folder: str, now: datetime
) -> None:
    """The breach just recorded, in the audit log: which rules, where; never the message."""
    breach_id = session.scalar(
        select(func.max(m.Breach.id))
        .join(m.Customer, m.Customer.id == m.Breach.customer_id)
        .where(m.Customer.ref == decision.customer_ref)
    )
    audit(
        session,
        WATCHER,
        "breach.recorded",
        f"breach:{breach_id}",
        customer_ref=decision.customer_ref,
        details=f"{', '.join(decision.rules)}; found in {mailbox}/{folder}",
        at=now,
    )


def _too_large(decision: Decision, size: int) -> Decision:
    return Decision(
        DecisionKind.REVIEW,
        (*decision.rules, "message-too-large"),
        (
            *decision.reasons,
            f"message is {size} bytes, over [watch] max_message_bytes; not fetched",
        ),
        decision.customer_ref,
    )
