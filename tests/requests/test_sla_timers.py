"""Precise SLA timers: a check at each deadline or reminder before the next sweep, changing nothing on its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
import time_machine

from requests.escalation import sla_sweep_and_look_ahead
from requests.models import Escalation, ExceptionRequest, Status
from requests.services import exception_request_file
from requests.tasks import sla_check
from tests.conftest import facts
from tests.support import FILED

SECOND = timedelta(seconds=1)
# The pure rule under the timers (sla.timer_countdowns) is tested in tests/requests/test_sla_rules.py.


@pytest.fixture
def published():
    with mock.patch.object(sla_check, "apply_async") as apply_async:
        yield apply_async


def countdowns(apply_async) -> list[float]:
    return sorted(call.kwargs["countdown"] for call in apply_async.call_args_list)


def file_pending(rep, policy, now: datetime) -> ExceptionRequest:
    return exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")), now=now)


def test_filing_with_a_deadline_before_the_next_sweep_schedules_checks_at_reminder_and_deadline(
    rep, policy, settings, published, django_capture_on_commit_callbacks
):
    settings.SLA_SWEEP_SECONDS = 300
    policy.sla_minutes = 2
    policy.save()
    with time_machine.travel(FILED, tick=False), django_capture_on_commit_callbacks(execute=True):
        request = file_pending(rep, policy, FILED)
    assert request.status == Status.PENDING
    assert countdowns(published) == pytest.approx([90.0, 120.0])  # reminder at 75 %, deadline
    assert all(call.kwargs["expires"] > call.kwargs["countdown"] for call in published.call_args_list)


def test_filing_with_a_deadline_after_the_next_sweep_schedules_nothing(
    rep, policy, published, django_capture_on_commit_callbacks
):
    with time_machine.travel(FILED, tick=False), django_capture_on_commit_callbacks(execute=True):
        file_pending(rep, policy, FILED)
    published.assert_not_called()


def test_the_periodic_sweep_sets_a_timer_for_each_deadline_before_the_next_one(
    rep, policy, settings, published, django_capture_on_commit_callbacks
):
    settings.SLA_SWEEP_SECONDS = 30
    request = file_pending(rep, policy, FILED)
    due = request.due_at
    with time_machine.travel(due - 12 * SECOND, tick=False), django_capture_on_commit_callbacks(execute=True):
        report = sla_sweep_and_look_ahead()
    assert report.timers == 1
    assert countdowns(published) == pytest.approx([12.0])
    # A countdown is never longer than the sweep interval.
    published.reset_mock()
    with time_machine.travel(due - 31 * SECOND, tick=False), django_capture_on_commit_callbacks(execute=True):
        sla_sweep_and_look_ahead()
    published.assert_not_called()


def test_an_early_late_or_duplicated_timer_changes_nothing(rep, policy, published):
    request = file_pending(rep, policy, FILED)
    due = request.due_at
    with time_machine.travel(due - SECOND, tick=False):
        sla_check.apply()  # early: only the reminder (long past) goes out
    request.refresh_from_db()
    assert (request.status, request.approval_level) == (Status.PENDING, 1)
    assert request.reminder_sent_at is not None
    for moment in (due, due, due + 5 * SECOND):  # on time, duplicated, late
        with time_machine.travel(moment, tick=False):
            sla_check.apply()
    request.refresh_from_db()
    assert (request.status, request.approval_level, request.breached_level) == (Status.ESCALATED, 2, 1)
    assert Escalation.objects.filter(request=request).count() == 1
    assert request.history.filter(history_change_reason__startswith="SLA breach").count() == 1


def test_an_escalation_whose_new_deadline_falls_before_the_next_sweep_sets_its_timers(
    rep, policy, settings, published, django_capture_on_commit_callbacks
):
    settings.SLA_SWEEP_SECONDS = 300
    policy.sla_minutes = 2
    policy.save()
    request = file_pending(rep, policy, FILED)
    due = request.due_at
    with time_machine.travel(due, tick=False), django_capture_on_commit_callbacks(execute=True):
        sla_check.apply()
    request.refresh_from_db()
    assert (request.status, request.approval_level, request.due_at) == (Status.ESCALATED, 2, due + 120 * SECOND)
    assert countdowns(published) == pytest.approx([90.0, 120.0])  # level 2's reminder and deadline
