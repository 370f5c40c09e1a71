"""The SLA sweep with time travel: remind once, escalate once per level, alert once at the top."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from requests.escalation import sla_sweep
from requests.models import Escalation, ExceptionRequest, Notification, Status
from requests.services import exception_request_decide, exception_request_file
from tests.conftest import facts

FILED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def pending(rep, policy):
    return exception_request_file(rep=rep, facts=facts(policy, amount=Decimal("300")), now=FILED)


def at(minutes: int) -> datetime:
    return FILED + timedelta(minutes=minutes)


def state(request: ExceptionRequest) -> tuple:
    request.refresh_from_db()
    return (request.status, request.approval_level, request.breached_level, request.reminder_sent_at is not None)


def kinds(user) -> list[str]:
    return sorted(Notification.objects.filter(user=user).values_list("kind", flat=True))


def test_the_sla_timeline(pending, rep, manager_low, manager_high, director, admin_user):
    # 89 minutes: nothing yet.
    assert str(sla_sweep(now=at(89))) == "0 reminder(s), 0 escalation(s), 0 top-level alert(s)"
    assert state(pending) == (Status.PENDING, 1, None, False)

    # 90 minutes (75% of 120): one reminder to each level-1 approver; a second sweep adds nothing.
    assert sla_sweep(now=at(90)).reminded == [pending.reference]
    assert sla_sweep(now=at(90)).reminded == []
    assert state(pending) == (Status.PENDING, 1, None, True)
    assert kinds(manager_low) == kinds(manager_high) == ["reminder"]

    # 120 minutes: breached at level 1, escalated to level 2 with a fresh deadline from the breach.
    assert sla_sweep(now=at(120)).escalated == [pending.reference]
    assert sla_sweep(now=at(120)).escalated == []
    assert state(pending) == (Status.ESCALATED, 2, 1, False)
    pending.refresh_from_db()
    assert pending.due_at == at(240)
    assert kinds(director) == ["escalated"]
    assert kinds(manager_low) == ["escalated", "reminder"]
    assert kinds(rep) == ["escalated"]

    # 210 minutes: the level-2 reminder, once.
    assert sla_sweep(now=at(210)).reminded == [pending.reference]
    assert kinds(director) == ["escalated", "reminder"]

    # 240 minutes: breached at the top level, the policy's owner and admins alerted once.
    assert sla_sweep(now=at(240)).alerted == [pending.reference]
    assert sla_sweep(now=at(241)).alerted == []
    assert sla_sweep(now=at(600)).alerted == []
    assert kinds(admin_user) == ["alert"]  # owner and policy admin are the same user: one alert
    pending.refresh_from_db()
    assert (pending.status, pending.breached_level, pending.alerted_at) == (Status.ESCALATED, 2, at(240))
    assert list(pending.escalations.values_list("from_level", "to_level")) == [(1, 2), (2, None)]


def test_escalation_history_is_attributed_to_the_system_user(pending):
    sla_sweep(now=at(120))
    record = pending.history.latest()
    assert record.history_user.username == "system"
    assert record.history_change_reason == "SLA breach: escalated to level 2"
    assert record.approval_level == 2


def test_request_decided_at_119_minutes_is_never_escalated(pending, manager_high):
    exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="ok", now=at(119))
    report = sla_sweep(now=at(125))
    assert report.escalated == []
    assert state(pending)[0] == Status.APPROVED
    assert Escalation.objects.count() == 0


def test_waiting_for_rep_is_not_escalated(pending, manager_high):
    from requests.services import exception_request_ask

    exception_request_ask(request_id=pending.pk, approver=manager_high, question="Photo?", now=at(60))
    assert sla_sweep(now=at(500)).escalated == []


def test_a_long_outage_catches_up_level_by_level_in_one_sweep(pending, admin_user):
    report = sla_sweep(now=at(1000))
    assert report.escalated == [pending.reference]
    assert report.alerted == [pending.reference]
    assert list(pending.escalations.values_list("from_level", "to_level")) == [(1, 2), (2, None)]


def test_batches_cover_every_due_request(rep, policy):
    filed = [
        exception_request_file(rep=rep, facts=facts(policy, customer_ref=f"B-{n}", amount=Decimal("300")), now=FILED)
        for n in range(7)
    ]
    report = sla_sweep(now=at(120), batch_size=3)
    assert sorted(report.escalated) == sorted(r.reference for r in filed)
    assert ExceptionRequest.objects.filter(approval_level=2).count() == 7


def test_sweep_emails_notifications_once(pending, director, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sla_sweep(now=at(120))
    with django_capture_on_commit_callbacks(execute=True):
        sla_sweep(now=at(120))
    to_director = [m for m in mailoutbox if m.to == [director.email]]
    assert len(to_director) == 1
    assert pending.reference in to_director[0].body


def test_enforce_sla_command_prints_what_it_did(pending, capsys):
    with time_machine.travel(at(121), tick=False):
        call_command("enforce_sla")
        call_command("enforce_sla")
    out = capsys.readouterr().out
    assert f"Escalated: {pending.reference}" in out
    assert out.count("Escalated:") == 1
    assert "SLA sweep done: 0 reminder(s), 0 escalation(s), 0 top-level alert(s)." in out


def test_celery_task_runs_the_sweep(pending):
    from requests.tasks import enforce_sla

    with time_machine.travel(at(121), tick=False):
        assert enforce_sla.delay().get() == "0 reminder(s), 1 escalation(s), 0 top-level alert(s)"
        assert enforce_sla.delay().get() == "0 reminder(s), 0 escalation(s), 0 top-level alert(s)"


def test_queue_and_request_page_show_the_breach_and_trail(client, pending, director):
    sla_sweep(now=at(120))
    client.force_login(director)
    with time_machine.travel(at(130), tick=False):
        queue = client.get(reverse("requests:queue")).text
        page = client.get(reverse("requests:detail", args=[pending.pk])).text
    assert "breached at 1" in queue
    assert "On time · breached at level 1" in page
    assert "Escalation trail" in page
    assert "escalated to level 2" in page


def test_due_soon_badge_after_the_reminder_point(client, pending, manager_high):
    client.force_login(manager_high)
    with time_machine.travel(at(95), tick=False):
        page = client.get(reverse("requests:detail", args=[pending.pk])).text
    assert 'data-sla="due_soon"' in page
    assert "25 min left" in page
