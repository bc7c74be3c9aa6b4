"""The ``spocbot run`` daemon's timetable: its own schedule.Scheduler, jobs isolated from each
other's failures, the watcher's backoff, the daily hooks, and a clean stop."""

from __future__ import annotations

import logging
import threading
from datetime import date
from pathlib import Path

import pytest
import schedule
from sqlalchemy.orm import Session, sessionmaker

from bot.scheduler import Daemon
from bot.watcher import PassReport
from tests.schedtest import Harness, row


def test_the_daemon_has_its_own_scheduler_with_four_jobs(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1")])

    assert h.daemon.scheduler is not schedule.default_scheduler
    assert [] == schedule.default_scheduler.jobs
    assert 4 == len(h.daemon.scheduler.jobs)


def test_one_failing_job_is_logged_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(tmp_path, [row("C-1", review="2027-01-20")])
    h.at(date(2027, 1, 11))

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("digest template missing")

    monkeypatch.setattr(h.daemon.digests, "run", broken)
    with caplog.at_level(logging.ERROR, logger="bot.scheduler"):
        h.daemon.tick()

    assert 2 == sum("digest job failed" in r.getMessage() for r in caplog.records)
    assert h.sent("reminder")  # the reminders job ran and was delivered


def test_a_failed_pass_backs_off_and_a_good_one_returns_to_the_poll_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Harness(tmp_path, [row("C-1")], extra_config="retry_initial_seconds = 10\n")
    reports = [PassReport(errors=["imap down"]), PassReport(errors=["imap down"]), PassReport()]
    monkeypatch.setattr(h.watcher, "run_pass", lambda: reports.pop(0))
    job = h.daemon.scheduler.jobs[0]

    h.daemon.watch()
    first = job.interval
    h.daemon.watch()
    second = job.interval
    h.daemon.watch()

    assert 8 <= first <= 12 and 16 <= second <= 24
    assert 60 == job.interval


def test_daily_hooks_run_once_per_effective_date_before_the_reminders(tmp_path: Path) -> None:
    calls: list[tuple[date, str]] = []

    def lapse_due(factory: sessionmaker[Session], today: date, operator: str) -> None:
        calls.append((today, operator))

    h = Harness(tmp_path, [row("C-1")])
    daemon = Daemon(h.app, h.watcher, h.outbox, hooks=[lapse_due])
    h.at(date(2027, 1, 11), "07:00")
    daemon.tick()
    daemon.tick()
    h.at(date(2027, 1, 11), "08:30")
    daemon.tick()

    assert [
        (date(2027, 1, 10), "spocbot (scheduler)"),
        (date(2027, 1, 11), "spocbot (scheduler)"),
    ] == calls


def test_a_failing_hook_is_tried_again_and_does_not_stop_the_reminders(tmp_path: Path) -> None:
    attempts: list[date] = []

    def flaky(factory: sessionmaker[Session], today: date, operator: str) -> None:
        attempts.append(today)
        if len(attempts) == 1:
            raise RuntimeError("database locked")

    h = Harness(tmp_path, [row("C-1", review="2027-01-20")])
    daemon = Daemon(h.app, h.watcher, h.outbox, hooks=[flaky])
    h.at(date(2027, 1, 11))
    daemon.tick()
    daemon.tick()
    daemon.tick()

    assert [date(2027, 1, 11)] * 2 == attempts
    assert h.sent("reminder")


def test_run_catches_up_at_start_and_stops_when_told(tmp_path: Path) -> None:
    h = Harness(tmp_path, [row("C-1", review="2027-01-20")])
    h.at(date(2027, 1, 11))
    stop = threading.Event()
    thread = threading.Thread(target=h.daemon.run, args=(stop,))

    thread.start()
    try:
        for _ in range(100):
            if h.sent("digest"):
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)

    assert not thread.is_alive()
    assert h.sent("reminder") and 2 == len(h.sent("digest"))
