"""``spocbot demo``: the whole main job on the embedded mail servers, with a readable summary.

It starts afresh (the demo database and evidence folder are replaced), imports the demo
register, records the demo absences, delivers each demo message over SMTP into the embedded
IMAP server exactly as ``data/demo/deliveries.toml`` says, runs three watcher passes (the
second shows that nothing is handled twice; before the third, the demo confirms a review item
as the DMO would, and the third sends its forward), reads the officers' inboxes back over IMAP
and prints what happened to each message next to what the case expects.  Then it tours the
policy's time limits as the DMO (:mod:`bot.demo_time_limits`: a decision, an appeal, a
letter, reminders and digests), and data protection (:mod:`bot.demo_data_protection`: the
evidence chain, an evidence bundle, a subject access export, partner sharing, flags, a
refused erasure and a retention purge).  The database stays behind for ``spocbot breaches list`` and
friends.
"""

from __future__ import annotations

import shutil
import smtplib
import tomllib
from collections.abc import Callable
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot import reports, review_service
from bot.bootstrap import App, build_app, build_watcher, mail_connections
from bot.config import BackendKind, ConfigError, Settings, load_settings
from bot.demo_data_protection import tour as data_protection_tour
from bot.demo_time_limits import CUSTOMER, tour
from bot.policy import Policy
from bot.register_service import add_absence, import_register
from bot.store import models as m
from mailbox_rules.calendar import add_months

Echo = Callable[[str], None]
DEMO_OPERATOR = "demo (as the DMO)"


def run_demo(config_file: Path, data_dir: Path, echo: Echo) -> bool:
    """Run the demo; True if every case came out as expected."""
    settings = load_settings(config_file)
    if settings.backend.kind is not BackendKind.EMBEDDED:
        raise ConfigError(
            f"{config_file}: backend.kind must be 'embedded' for the demo, which replaces the "
            "database and evidence it is given"
        )
    plan = tomllib.loads((data_dir / "deliveries.toml").read_text(encoding="utf-8"))
    _reset(settings.storage.database_url, settings.storage.evidence_dir)
    app = build_app(config_file)
    zone = ZoneInfo(settings.organisation.timezone)
    today = app.clock().astimezone(zone).date()

    result = import_register(
        app.factory,
        data_dir / "register.csv",
        staff_addresses=app.staff_addresses,
        staff_domains=settings.organisation.staff_domains,
        topics=settings.topics,
        operator=DEMO_OPERATOR,
        today=today,
        watched=[mailbox.address for mailbox in settings.watched],
        flag_systems=settings.flags.systems,
        not_officers=app.not_officers,
    )
    echo(f"spocbot demo: {settings.organisation.name}, on embedded mail servers (127.0.0.1)")
    echo(f"Register: {result.created} arrangements imported from {data_dir / 'register.csv'}.")
    for warning in result.warnings:
        echo(f"  Warning: {warning}")
    if any("is new here and ceased" in str(w) for w in result.warnings):
        echo("  (Expected here: the demo register holds an arrangement that has already ended.)")
    for leave in plan.get("absence", []):
        starts = today + timedelta(days=leave["from_days"])
        ends = today + timedelta(days=leave["to_days"])
        add_absence(app.factory, leave["email"], starts, ends, operator=DEMO_OPERATOR)
        echo(f"Absence: {leave['email']} on leave {starts:%-d %b} to {ends:%-d %b %Y}.")

    deliveries = plan["delivery"]
    with mail_connections(settings) as connections:
        assert connections.embedded is not None
        port = connections.sender._port  # type: ignore[attr-defined]
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for delivery in deliveries:
                raw = (data_dir / delivery["file"]).read_bytes()
                smtp.sendmail(
                    delivery["envelope_from"], delivery["to"], raw, mail_options=["BODY=8BITMIME"]
                )
        mailboxes = {a for d in deliveries for a in d["to"]}
        echo(
            f"Delivered {len(deliveries)} demo messages into {len(mailboxes)} watched mailboxes.\n"
        )

        watcher = build_watcher(app, connections)
        first = watcher.run_pass().as_dict()
        second = watcher.run_pass().as_dict()
        confirmed = [
            _confirm_as_the_dmo(app, data_dir / d["file"], d["confirm_as"])
            for d in deliveries
            if "confirm_as" in d
        ]
        third = watcher.run_pass().as_dict()
        inboxes = _forwards_received(connections.stores, settings.mailboxes)
        tour_lines: list[str] = []
        toured = tour(
            app, connections, _state_dir(settings) / "letters", DEMO_OPERATOR, tour_lines.append
        )

    copies = sum(len(d["to"]) for d in deliveries)
    echo(
        f"Pass 1: {first['headers_fetched']} messages read (headers only; {len(deliveries)} demo "
        f"messages, {copies} copies, as some reached several mailboxes), "
        f"{first['full_messages_fetched']} fetched in full, {first['new_breaches']} breaches, "
        f"{first['to_review']} for review, {first['quarantined']} quarantined, "
        f"{first['forwards_sent']} forwards sent."
    )
    echo(
        f"Pass 2: {second['headers_fetched']} new messages (the forwards that just reached "
        f"officers' inboxes), {second['new_breaches']} breaches, {second['forwards_sent']} "
        "forwards sent: nothing is handled twice."
    )
    for line in confirmed:
        echo(line)
    echo(
        f"Pass 3: {third['forwards_sent']} forward(s) sent for what the DMO confirmed, "
        f"{third['new_breaches']} new breaches found by the watcher itself.\n"
    )
    with app.factory() as session:
        outcomes = [_outcome(session, data_dir / d["file"]) for d in deliveries]
        breach_rows = reports.breaches(session)
        quarantine_rows = reports.quarantine(session)
        review_rows = reports.review_items(session)
        contact_rows = reports.contacts(session)
    # Last, as it ends and purges an arrangement whose messages the summary above describes.
    protected = data_protection_tour(
        app, _state_dir(settings) / "exports", DEMO_OPERATOR, tour_lines.append
    )
    all_ok = True
    echo("Each demo message, what it shows, and what spocbot did:")
    for delivery, (outcome, detail) in zip(deliveries, outcomes, strict=True):
        ok = outcome == delivery["expect"]
        all_ok &= ok
        number = Path(delivery["file"]).name[:2]
        echo(f" {'✓' if ok else '✗'} {number} {delivery['note']}")
        echo(f"      → {detail}" + ("" if ok else f"  (expected: {delivery['expect']})"))

    echo("\nForwards found in officers' inboxes (read back over IMAP):")
    for address, subjects in inboxes.items():
        for subject in subjects:
            echo(f"  {address}: {subject}")
    echo(
        f"\nEvidence: {len(breach_rows)} breaches, {len(contact_rows)} contacts, "
        f"{len(review_rows)} waiting for review, {len(quarantine_rows)} quarantined "
        f"(raw messages under {settings.storage.evidence_dir})."
    )
    for line in tour_lines:
        echo(line)
    if not toured:
        echo("  THE LETTER OR THE DIGEST DID NOT ARRIVE.")
    if not protected:
        echo("  A DATA PROTECTION STEP DID NOT BEHAVE AS EXPECTED.")
    all_ok &= toured and protected
    echo("\nLook around with, for example:")
    echo(f"  .venv/bin/spocbot --config {config_file} breaches list")
    echo(f"  .venv/bin/spocbot --config {config_file} review list")
    echo(f"  .venv/bin/spocbot --config {config_file} quarantine list --json")
    echo(f"  .venv/bin/spocbot --config {config_file} arrangement history {CUSTOMER}")
    before_review = add_months(today, 6) - timedelta(days=28)
    echo(
        f"  .venv/bin/spocbot --config {config_file} reminders send --dry-run "
        f"--as-of {before_review.isoformat()}"
    )
    echo(f"  .venv/bin/spocbot --config {config_file} digest send --kind reviews --dry-run")
    echo(f"  .venv/bin/spocbot --config {config_file} evidence verify")
    echo(f"  .venv/bin/spocbot --config {config_file} audit list --customer NV-1001")
    echo("All cases behaved as expected." if all_ok else "SOME CASES DID NOT BEHAVE AS EXPECTED.")
    return all_ok


def _state_dir(settings: Settings) -> Path:
    """Where the demo keeps its state (beside its evidence folder: var/demo/)."""
    return settings.storage.evidence_dir.parent


def _reset(database_url: str, evidence_dir: Path) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
    shutil.rmtree(evidence_dir, ignore_errors=True)


def _message_id(path: Path) -> str:
    headers = BytesHeaderParser(policy=default_policy).parsebytes(path.read_bytes())
    return str(headers.get("Message-ID", "")).strip()


def _confirm_as_the_dmo(app: App, path: Path, customer_ref: str) -> str:
    """Answer a review item the way the DMO would with ``spocbot review confirm``."""
    message_id = _message_id(path)
    with app.factory() as session:
        item_id = session.scalar(
            select(m.ReviewItem.id).where(
                m.ReviewItem.message_id == message_id, m.ReviewItem.status == "open"
            )
        )
    if item_id is None:
        return f"Review queue: {path.name} was not waiting for review."
    result = review_service.confirm(
        app.factory,
        Policy(app.settings),
        app.evidence,
        item_id,
        operator=DEMO_OPERATOR,
        now=app.clock(),
        bot_address=app.settings.organisation.bot_address,
        customer_ref=customer_ref,
    )
    return (
        f"Review queue: item {item_id} confirmed as {customer_ref} "
        f"(`spocbot review confirm {item_id}`); {result.address_note}."
    )


def _outcome(session: Any, path: Path) -> tuple[str, str]:
    """Classify what happened to one demo message, in the terms deliveries.toml uses."""
    message_id = _message_id(path)
    review = session.scalars(
        select(m.ReviewItem).where(m.ReviewItem.message_id == message_id)
    ).first()
    if review is not None and review.status != "confirmed":
        return "review", f"waiting for review ({review.status}): {review.reason}"
    if review is not None:
        kind, detail = _outcome_of_processing(session, message_id)
        return kind, f"confirmed from the review queue by {review.decided_by}; then {detail}"
    return _outcome_of_processing(session, message_id)


def _outcome_of_processing(session: Any, message_id: str) -> tuple[str, str]:
    quarantined = session.scalars(
        select(m.Quarantine).where(m.Quarantine.message_id == message_id)
    ).first()
    if quarantined is not None:
        return "quarantined", f"quarantined: {quarantined.reason}"
    emergency = session.scalars(
        select(m.Outbox).where(
            m.Outbox.original_message_id == message_id, m.Outbox.kind.like("emergency-%")
        )
    ).all()
    if emergency:
        names = " and ".join(f"{o.recipient_name} [{o.status}]" for o in emergency)
        return "emergency", f"emergency: sent at once, marked high importance, to {names}"
    breach = session.scalars(select(m.Breach).where(m.Breach.message_id == message_id)).first()
    if breach is not None:
        forward = session.scalars(select(m.Outbox).where(m.Outbox.breach_id == breach.id)).first()
        mailboxes = ", ".join(sorted({s.mailbox.split("@")[0] + "@" for s in breach.sightings}))
        if forward is None:
            return "breach-not-forwarded", f"breach #{breach.id}, not forwarded"
        arrangement = breach.customer.arrangement
        to_cover = arrangement is not None and forward.recipient_email != arrangement.spoc.email
        return (
            "breach-to-cover" if to_cover else "breach",
            f"breach #{breach.id} (found in {mailboxes}) forwarded to {forward.recipient_name} "
            f"[{forward.status}]",
        )
    contact = session.scalars(select(m.Contact).where(m.Contact.message_id == message_id)).first()
    if contact is not None:
        if contact.kind == "warning":
            return "warning-contact", "warning stage: contact recorded as evidence, not forwarded"
        forward = session.scalars(select(m.Outbox).where(m.Outbox.contact_id == contact.id)).first()
        if forward is not None:
            return "allowed-to-cover", (
                f"permitted contact recorded; passed to cover officer {forward.recipient_name} "
                f"[{forward.status}] (not a breach)"
            )
        mailbox = contact.mailbox.split("@")[0] + "@"
        arrangement = contact.customer.arrangement
        if arrangement is not None and contact.mailbox == arrangement.spoc.email:
            where = f"the SPOC's inbox ({mailbox})"
        else:
            where = f"{mailbox}, an address the arrangement permits"
        return "allowed", f"permitted contact recorded; left where it arrived, in {where}"
    processed = session.scalars(
        select(m.ProcessedMessage).where(m.ProcessedMessage.message_id == message_id)
    ).first()
    if processed is None:
        return "unseen", "not seen by the watcher"
    return "ignored", f"no action ({processed.rules or 'no rule'})"


def _forwards_received(stores: Any, mailboxes: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for mailbox in mailboxes:
        store = stores[mailbox.address]
        client = store._connect()
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["HEADER", "X-Spocbot-Kind", "forward"])
        if not uids:
            continue
        data = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        subjects = []
        for uid in sorted(data):
            header = data[uid][b"BODY[HEADER.FIELDS (SUBJECT)]"]
            parsed = BytesHeaderParser(policy=default_policy).parsebytes(header)
            subjects.append(str(parsed.get("Subject", "")))
        found[mailbox.address] = subjects
    return found
