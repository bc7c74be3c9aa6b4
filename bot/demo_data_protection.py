"""The last part of ``spocbot demo``: data protection and evidential integrity, as the DMO.

It verifies the evidence hash chain, writes an ombudsman's evidence bundle and a subject
access export for one customer (checking that no other customer's name is in it), shares
the arrangements in force with the partner council, confirms a flag raised in the CRM, shows
that an arrangement in force cannot be erased, ends Sandra Cole's arrangement (NV-1005, with
contacts on record) and confirms her flags removed, and runs the retention purge as it will
run six months later, then verifies the chain again: her links are purged, and it holds.
Everything goes through the same services as the commands (``spocbot evidence``, ``sar``,
``share``, ``flags``, ``register erase``, ``retention purge``).
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import flag_tasks, lifecycle, retention, sar, sharing
from bot.bootstrap import App
from bot.erasure import ErasureRefused, erase_customer, kept_until
from bot.evidence_chain import verify
from bot.evidence_export import export_audited

Echo = Callable[[str], None]
SUBJECT = "NV-1001"  # Margaret Ellis: breaches in several mailboxes
ENDING = "NV-1005"  # Sandra Cole: contacts on record; her arrangement is ended in the tour
CEASED = "NV-1004"  # Gareth Lewis: ceased in the demo register
OTHER_NAMES = ("Tom Fraser", "Priya Shah", "Sandra Cole")


def tour(app: App, out_dir: Path, operator: str, echo: Echo) -> bool:
    """Run the tour, writing its exports afresh into ``out_dir``; True if every step came out
    as it should."""
    shutil.rmtree(out_dir, ignore_errors=True)  # the previous demo's exports
    settings = app.settings
    zone = ZoneInfo(settings.organisation.timezone)
    now = app.clock()
    today = now.astimezone(zone).date()
    ok = True
    echo("\nData protection and evidential integrity (as the DMO):")

    with app.factory() as session:
        before = verify(session, app.evidence)
    ok &= before.ok
    echo(f"  Evidence chain: {before.summary()}")

    bundle = export_audited(
        app.factory,
        app.evidence,
        app.templates,
        SUBJECT,
        out_dir / f"evidence-{SUBJECT}",
        zone=zone,
        now=now,
        organisation=settings.organisation.name,
        operator=operator,
    )
    ok &= bundle.messages > 0 and bundle.not_included == 0
    echo(
        f"  Evidence bundle for {SUBJECT} (`evidence export`): {bundle.records} records, "
        f"{bundle.messages} raw messages byte for byte, {bundle.links} chain links, in "
        f"{bundle.out}/ (open index.html)."
    )

    access = sar.export(
        app.factory,
        app.evidence,
        settings,
        app.templates,
        SUBJECT,
        out_dir / f"subject-access-{SUBJECT}.zip",
        operator=operator,
        now=now,
    )
    with zipfile.ZipFile(access.path) as archive:
        text = b"".join(archive.read(name) for name in archive.namelist()).decode(
            "utf-8", "replace"
        )
    leaked = [name for name in OTHER_NAMES if name in text]
    ok &= not leaked and "Margaret Ellis" in text
    echo(
        f"  Subject access export for {SUBJECT} (`sar export`): {access.messages} messages and "
        f"{sum(access.sections.values())} records in {access.path}; other customers' names: "
        + (f"FOUND {', '.join(leaked)}" if leaked else "none")
        + "."
    )

    shared = sharing.export_shared(
        app.factory,
        out_dir / "partner-share.csv",
        partner=settings.sharing.partner_name,
        force=True,
        operator=operator,
    )
    echo(
        f"  Shared {shared} arrangements in force with {settings.sharing.partner_name} "
        f"(`share export`, no reasons): {out_dir / 'partner-share.csv'}."
    )

    with app.factory() as session:
        tasks = flag_tasks.list_tasks(session)
    systems = settings.flags.systems
    if systems:
        done = flag_tasks.confirm(
            app.factory, systems, SUBJECT, systems[0], flag_tasks.RAISE, now=now, operator=operator
        )
        echo(
            f"  Flags in other systems: {len(tasks)} open tasks (`flags list`); confirmed the "
            f"{done.system} flag of {done.customer_ref} raised (`flags confirm`)."
        )

    try:
        erase_customer(
            app.factory,
            app.evidence,
            SUBJECT,
            operator=operator,
            now=now,
            today=today,
            months_after_end=settings.retention.months_after_end,
        )
        ok = False
        echo(f"  ERASED {SUBJECT}, WHOSE ARRANGEMENT IS IN FORCE.")
    except ErasureRefused as refused:
        echo(f"  `register erase {SUBJECT}` is refused: {refused}")

    lifecycle.end(
        app.factory,
        ENDING,
        on=today,
        today=today,
        by="Housing Manager",
        operator=operator,
        flag_systems=systems,
    )
    for system in systems:
        flag_tasks.confirm(
            app.factory, systems, ENDING, system, flag_tasks.REMOVE, now=now, operator=operator
        )
    echo(
        f"  Ended {ENDING}'s arrangement today (`arrangement end`) and confirmed its flags "
        f"removed from {', '.join(systems) or 'no system'} (`flags confirm --removed`)."
    )

    months = settings.retention.months_after_end
    as_of = kept_until(today, months) + timedelta(days=1)
    run = retention.purge(
        app.factory,
        app.evidence,
        as_of=as_of,
        months_after_end=months,
        quarantine_months=settings.retention.quarantine_months,
        operator=operator,
        now=now,
    )
    purged = [p.customer_ref for p in run.purged]
    ok &= sorted(purged) == sorted([ENDING, CEASED])
    echo(
        f"  Retention purge as the daily job will run it on {as_of:%-d %B %Y} (the command "
        "previews a future date only, with `--as-of DATE --dry-run`): "
        f"erased {', '.join(purged) or 'nobody'} ({months} months after the end), "
        f"{sum(run.counts.values())} records and {run.raw_files} raw files; the audit keeps "
        "a count-only tombstone."
    )
    echo(
        f"  The same run deleted our copies of {run.quarantine_deleted} quarantined message(s) "
        f"and {run.dismissed_deleted} dismissed review item(s) older than "
        f"{settings.retention.quarantine_months} months (the mailboxes keep the originals); "
        f"{run.open_review_items_past} open review item(s) are kept until decided."
    )
    with app.factory() as session:
        after = verify(session, app.evidence)
    ok &= after.ok and after.purged > 0 and after.links == before.links
    echo(f"  Evidence chain after the purge: {after.summary()}")
    return ok
