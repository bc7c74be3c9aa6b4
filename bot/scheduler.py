"""The ``spocbot run`` daemon: the watcher, the reminders and the digests on one timetable.

The timetable is a :class:`schedule.Scheduler` of its own (never the package's global one):

- the **watcher** pass every ``settings.poll_seconds``; after a failed pass the job's interval
  becomes the same capped exponential backoff with jitter as ``spocbot watch``
  (:meth:`bot.watcher.Watcher.run_forever`), and goes back to the poll interval after a good one;
- the **reminders**, the **breaches digest** and the **reviews digest** jobs every
  :data:`CHECK_SECONDS`.  Each one works out from the clock and the database what is due
  (the reminders' effective date, a digest's latest slot) and does only what is not recorded
  yet.  So the scheduled times (``[schedule] reminders_at`` ...) are honoured in the
  organisation's time zone across BST and GMT, a repeated tick does nothing, and at start-up
  (when every job runs once) whatever was missed while the service was down is caught up once.

One job failing is logged with its stack and does not stop the others.  The clock is injected
(``app.clock``), so tests drive :meth:`Daemon.tick` at any simulated time.  The caller holds
the one-watcher lock, and stops the loop by setting the ``stop`` event (SIGTERM, SIGINT).
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable, Sequence
from datetime import date

import schedule
from sqlalchemy.orm import Session, sessionmaker

from bot.bootstrap import App, build_digests, build_reminders
from bot.digests import BREACHES, REVIEWS
from bot.flag_tasks import daily_sync
from bot.lifecycle import lapse_due
from bot.log_privacy import address as log_address
from bot.outbox import DeliveryReport, OutboxSender
from bot.reminder_service import describe_run, effective_date
from bot.retention import daily_purge
from bot.watcher import PassReport, Watcher

log = logging.getLogger(__name__)

CHECK_SECONDS = 60
"""How often the reminders and digest jobs look for something due (a cheap database read)."""
OPERATOR = "spocbot (scheduler)"

DailyHook = Callable[[sessionmaker[Session], date, str], object]
"""A job run once a day, before the reminders: ``hook(factory, today, operator)``."""


def daily_hooks(app: App) -> list[DailyHook]:
    """The jobs the reminders job runs once per effective date, before working out reminders
    (so that an arrangement that lapsed today gets no reminder): arrangements with
    ``lapse_at_review`` whose review date has come end by themselves; the flag tasks in other
    systems are brought in line with the register (``[flags] systems``), so that a lapse, or
    anything a step or an import left out, gets its task; then the retention purge (policy
    §8) erases the arrangements ended longer ago than ``[retention] months_after_end``, and
    the working copies older than ``quarantine_months``."""
    return [
        lapse_due,
        daily_sync(app.settings.flags.systems),
        daily_purge(
            app.evidence,
            app.settings.retention.months_after_end,
            app.settings.retention.quarantine_months,
        ),
    ]


def _whole_seconds(seconds: float) -> int:
    """schedule counts intervals in whole units: round up, at least one second."""
    return max(1, math.ceil(seconds))


class Daemon:
    def __init__(
        self,
        app: App,
        watcher: Watcher,
        outbox: OutboxSender,
        *,
        on_pass: Callable[[PassReport], None] = lambda _report: None,
        hooks: Sequence[DailyHook] | None = None,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self._app, self._watcher, self._outbox, self._on_pass = app, watcher, outbox, on_pass
        self._hooks = list(daily_hooks(app) if hooks is None else hooks)
        self._hooks_done: date | None = None
        self._failures = 0
        self.reminders = build_reminders(app)
        self.digests = build_digests(app)
        self.scheduler = schedule.Scheduler()
        poll = _whole_seconds(app.settings.poll_seconds)
        check = _whole_seconds(check_seconds)
        self._watch_job = self.scheduler.every(poll).seconds.do(self._guard, "watcher", self.watch)
        every = self.scheduler.every
        every(check).seconds.do(self._guard, "reminders", self.send_reminders)
        every(check).seconds.do(self._guard, "breaches digest", self.send_digest, BREACHES)
        every(check).seconds.do(self._guard, "reviews digest", self.send_digest, REVIEWS)

    # -- the loop -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Run every job once, now (at start-up: the catch-up; in tests: one simulated tick)."""
        self.scheduler.run_all()

    def run(self, stop: threading.Event) -> None:
        """Catch up, then run the timetable until ``stop`` is set."""
        self.tick()
        while not stop.is_set():
            self.scheduler.run_pending()
            idle = self.scheduler.idle_seconds
            stop.wait(1.0 if idle is None else min(max(idle, 0.05), 60.0))

    def _guard(self, name: str, job: Callable[..., object], *args: object) -> bool:
        """One job's failure is logged and never ends the daemon or the other jobs."""
        try:
            job(*args)
        except Exception:
            log.exception("%s job failed; it runs again at its next tick", name)
            return False
        return True

    # -- the jobs -------------------------------------------------------------------------------

    def watch(self) -> PassReport:
        """One watcher pass; the next one after the poll interval, or a backoff after errors."""
        settings = self._app.settings
        try:
            report = self._watcher.run_pass()
        except Exception:  # a bug in a pass must not end the daemon; log and back off
            log.exception("watcher pass failed")
            report = PassReport(errors=["pass failed; see the log"])
        self._on_pass(report)
        if report.ok:
            self._failures, delay = 0, settings.poll_seconds
        else:
            self._failures += 1
            watch = settings.watch
            delay = min(
                watch.retry_max_seconds, watch.retry_initial_seconds * 2 ** (self._failures - 1)
            )
            delay = max(delay * random.uniform(0.8, 1.2), 0.1)
            log.warning("pass had errors; next attempt in %.0f s", delay)
        # schedule computes the next run from the interval once this returns
        self._watch_job.interval = _whole_seconds(delay)
        return report

    def send_reminders(self) -> None:
        as_of = effective_date(self._app.clock(), self._app.settings)
        if self._hooks_done != as_of:
            done = [
                self._guard(getattr(hook, "__name__", "daily hook"), hook, factory, as_of, OPERATOR)
                for hook, factory in ((h, self._app.factory) for h in self._hooks)
            ]
            if all(done):  # a failed hook is tried again at the next tick
                self._hooks_done = as_of
        run = self.reminders.run(as_of)
        if run.messages:
            for line in describe_run(run)[:1]:
                log.info("%s", line)
            self.deliver()

    def send_digest(self, kind: str) -> None:
        run = self.digests.run(kind)
        if run.digest_id is not None:
            log.info(
                "%s digest %d queued for %s (%s)",
                kind,
                run.digest_id,
                ", ".join(log_address(r) for r in run.recipients),
                "nothing to report" if run.nothing_to_report else "with content",
            )
            self.deliver()

    def deliver(self) -> DeliveryReport:
        """Send what was just queued: settle interrupted sends first, as every pass does."""
        report = DeliveryReport()
        try:
            self._outbox.recover(report)
        except Exception as exc:  # the bot mailbox cannot be checked: send nothing now
            log.warning("cannot check the bot mailbox, so nothing is sent now: %s", exc)
            return report
        self._outbox.deliver(report)
        for error in report.errors:
            log.warning("error: %s", error)
        return report
