"""The SLA sweep with time travel: remind once, escalate once per level, alert once at the top."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from policies.models import ApproverLevel, BusinessCalendar
from requests.authority import portal_today
from requests.escalation import sla_sweep
from requests.models import Delegation, Escalation, ExceptionRequest, Notification, Status
from requests.services import exception_request_decide, exception_request_file
from tests.conftest import facts, make_policy
from tests.support import FILED, at


def state(request: ExceptionRequest) -> tuple:
    request.refresh_from_db()
    return (request.status, request.approval_level, request.breached_level, request.reminder_sent_at is not None)


def kinds(user) -> list[str]:
    return sorted(Notification.objects.filter(user=user).values_list("kind", flat=True))


def test_the_sla_timeline(pending, rep, manager_low, manager_high, director, admin_user):
    # 89 minutes: nothing yet.
    assert str(sla_sweep(now=at(plus=89))) == "0 reminder(s), 0 escalation(s), 0 top-level alert(s)"
    assert state(pending) == (Status.PENDING, 1, None, False)

    # 90 minutes (75% of 120): one reminder to each level-1 approver; a second sweep adds nothing.
    assert sla_sweep(now=at(plus=90)).reminded == [pending.reference]
    assert sla_sweep(now=at(plus=90)).reminded == []
    assert state(pending) == (Status.PENDING, 1, None, True)
    # Each level-1 approver was told once when it was filed (an arrival), and reminded once.
    assert kinds(manager_low) == kinds(manager_high) == ["arrived", "reminder"]

    # 120 minutes: breached at level 1, escalated to level 2 with a fresh deadline from the breach.
    assert sla_sweep(now=at(plus=120)).escalated == [pending.reference]
    assert sla_sweep(now=at(plus=120)).escalated == []
    assert state(pending) == (Status.ESCALATED, 2, 1, False)
    pending.refresh_from_db()
    assert pending.due_at == at(plus=240)
    # The director: one arrival (its email carries the facts and the decision links).
    assert kinds(director) == ["arrived"]
    assert kinds(manager_low) == ["arrived", "escalated", "reminder"]
    assert kinds(rep) == ["escalated"]

    # 210 minutes: the level-2 reminder, once.
    assert sla_sweep(now=at(plus=210)).reminded == [pending.reference]
    assert kinds(director) == ["arrived", "reminder"]

    # 240 minutes: breached at the top level, the policy's owner and admins alerted once.
    assert sla_sweep(now=at(plus=240)).alerted == [pending.reference]
    assert sla_sweep(now=at(plus=241)).alerted == []
    assert sla_sweep(now=at(plus=600)).alerted == []
    assert kinds(admin_user) == ["alert"]  # owner and policy admin are the same user: one alert
    pending.refresh_from_db()
    assert (pending.status, pending.breached_level, pending.alerted_at) == (Status.ESCALATED, 2, at(plus=240))
    assert list(pending.escalations.values_list("from_level", "to_level")) == [(1, 2), (2, None)]


def test_an_escalation_does_not_go_to_whoever_stands_in_for_the_rep(policy, manager_high, director):
    """Segregation of duties through delegation (authority.py): the director stands in for the manager who
    filed it, so may not decide it; level 2, where only the director sits, is no level that can approve it
    (routing by amount counts nobody there), so the breach at level 1 is the top: the admins are alerted."""
    filed = exception_request_file(rep=manager_high, facts=facts(policy, amount=Decimal("200")), now=FILED)
    today = portal_today()
    Delegation.objects.create(approver=manager_high, delegate=director, starts_on=today, ends_on=today)
    report = sla_sweep(now=at(plus=120))
    assert (report.escalated, report.alerted) == ([], [filed.reference])
    assert state(filed)[1] == 1
    assert "arrived" not in kinds(director)


def test_escalation_history_is_attributed_to_the_system_user(pending):
    sla_sweep(now=at(plus=120))
    record = pending.history.latest()
    assert record.history_user.username == "system"
    assert record.history_change_reason == "SLA breach: escalated to level 2"
    assert record.approval_level == 2


def test_request_decided_at_119_minutes_is_never_escalated(pending, manager_high):
    exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="ok", now=at(plus=119))
    report = sla_sweep(now=at(plus=125))
    assert report.escalated == []
    assert state(pending)[0] == Status.APPROVED
    assert Escalation.objects.count() == 0


def test_waiting_for_rep_is_not_escalated(pending, manager_high):
    from requests.services import exception_request_ask

    exception_request_ask(request_id=pending.pk, approver=manager_high, question="Photo?", now=at(plus=60))
    assert sla_sweep(now=at(plus=500)).escalated == []


def test_a_long_outage_catches_up_level_by_level_in_one_sweep(pending, admin_user):
    report = sla_sweep(now=at(plus=1000))
    assert report.escalated == [pending.reference]
    assert report.alerted == [pending.reference]
    assert list(pending.escalations.values_list("from_level", "to_level")) == [(1, 2), (2, None)]


def test_batches_cover_every_due_request(rep, policy):
    filed = [
        exception_request_file(rep=rep, facts=facts(policy, customer_ref=f"B-{n}", amount=Decimal("300")), now=FILED)
        for n in range(7)
    ]
    report = sla_sweep(now=at(plus=120), batch_size=3)
    assert sorted(report.escalated) == sorted(r.reference for r in filed)
    assert ExceptionRequest.objects.filter(approval_level=2).count() == 7


def test_sweep_emails_notifications_once(pending, director, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sla_sweep(now=at(plus=120))
    with django_capture_on_commit_callbacks(execute=True):
        sla_sweep(now=at(plus=120))
    to_director = [m for m in mailoutbox if m.to == [director.email]]
    assert len(to_director) == 1
    assert pending.reference in to_director[0].body


def test_enforce_sla_command_prints_what_it_did(pending, capsys):
    with time_machine.travel(at(plus=121), tick=False):
        call_command("enforce_sla")
        call_command("enforce_sla")
    out = capsys.readouterr().out
    assert f"Escalated: {pending.reference}" in out
    assert out.count("Escalated:") == 1
    assert "SLA sweep done: 0 reminder(s), 0 escalation(s), 0 top-level alert(s)." in out


def test_celery_task_runs_the_sweep(pending):
    from requests.tasks import enforce_sla

    with time_machine.travel(at(plus=121), tick=False):
        assert enforce_sla.delay().get() == "0 reminder(s), 1 escalation(s), 0 top-level alert(s)"
        assert enforce_sla.delay().get() == "0 reminder(s), 0 escalation(s), 0 top-level alert(s)"


def test_queue_and_request_page_show_the_breach_and_trail(client, pending, director):
    sla_sweep(now=at(plus=120))
    client.force_login(director)
    with time_machine.travel(at(plus=130), tick=False):
        queue = client.get(reverse("requests:queue")).text
        page = client.get(reverse("requests:detail", args=[pending.pk])).text
    assert "breached at 1" in queue
    assert "On time · breached at level 1" in page
    assert "Escalation trail" in page
    assert "escalated to level 2" in page


def test_due_soon_badge_after_the_reminder_point(client, pending, manager_high):
    client.force_login(manager_high)
    with time_machine.travel(at(plus=95), tick=False):
        page = client.get(reverse("requests:detail", args=[pending.pk])).text
    assert 'data-sla="due_soon"' in page
    assert "25 min left" in page


def texts(user) -> list[str]:
    return list(Notification.objects.filter(user=user).order_by("pk").values_list("text", flat=True))


def test_notifications_say_what_happened_to_whom(pending, rep, manager_low, manager_high, director, admin_user):
    ref = pending.reference
    sla_sweep(now=at(plus=90))
    assert texts(manager_high) == [
        f"{ref} waits for your decision (just filed): Return window, 300.00.",
        f"Reminder: {ref} is due soon.",
    ]
    sla_sweep(now=at(plus=120))
    assert texts(manager_low)[-1] == f"{ref} breached its SLA at level 1 and went to level 2."
    assert texts(director) == [f"{ref} was escalated to you (level 2) after an SLA breach."]
    assert texts(rep)[-1] == f"Your request {ref} was escalated to level 2 after an SLA breach."
    sla_sweep(now=at(plus=240))
    assert texts(admin_user) == [
        f"{ref} (Return window) breached its SLA at level 2, the top level. It still needs a decision."
    ]
    assert set(Notification.objects.filter(kind="escalated").values_list("request_id", flat=True)) == {pending.pk}


def test_history_rows_copy_the_stored_row_at_each_step(pending):
    for minutes in (90, 120, 240):
        sla_sweep(now=at(plus=minutes))
    pending.refresh_from_db()
    records = list(pending.history.select_related("history_user").order_by("history_date", "history_id"))[-3:]
    assert [r.history_change_reason for r in records] == [
        "SLA reminder sent to level 1",
        "SLA breach: escalated to level 2",
        "SLA breach at level 2, the top level: policy admins alerted",
    ]
    assert [r.history_date for r in records] == [at(plus=90), at(plus=120), at(plus=240)]
    assert {r.history_user.username for r in records} == {"system"}
    assert [(r.approval_level, r.due_at, r.reminder_sent_at) for r in records] == [
        (1, at(plus=120), at(plus=90)),
        (2, at(plus=240), None),
        (2, at(plus=240), None),
    ]
    for field in ExceptionRequest.history.model._meta.concrete_fields:
        if not field.name.startswith("history_"):
            assert getattr(records[-1], field.attname) == getattr(pending, field.attname), field.name


def test_one_batch_escalates_each_policy_by_its_own_clock(rep, policy, problem_type, manager_low, director, admin_user):
    """Wall-clock deadlines move in the database, business-hours ones are computed: both land right."""
    office = BusinessCalendar.objects.create(
        name="London office",
        time_zone="Europe/London",
        working_days=[1, 2, 3, 4, 5],
        opens_at=time(9),
        closes_at=time(17),
    )
    in_office = make_policy(problem_type, "Office hours", calendar=office, owner=admin_user)
    quick = make_policy(problem_type, "Quick", sla_minutes=45, owner=admin_user)
    for other in (in_office, quick):
        ApproverLevel.objects.create(policy=other, level=1, user=manager_low, money_authority=Decimal("2500"))
        ApproverLevel.objects.create(policy=other, level=2, user=director, money_authority=Decimal("2500"))
    monday = datetime(2026, 11, 23, tzinfo=UTC)  # London is on GMT in November
    office_request = exception_request_file(
        rep=rep, facts=facts(in_office, amount=Decimal("300")), now=monday + timedelta(hours=14)
    )
    quick_request = exception_request_file(
        rep=rep, facts=facts(quick, customer_ref="C-2", amount=Decimal("300")), now=monday + timedelta(hours=15)
    )
    standard_request = exception_request_file(
        rep=rep,
        facts=facts(policy, customer_ref="C-3", amount=Decimal("300")),
        now=monday + timedelta(hours=13, minutes=30),
    )
    report = sla_sweep(now=monday + timedelta(hours=16))
    assert sorted(report.escalated) == sorted(
        [office_request.reference, quick_request.reference, standard_request.reference]
    )
    standard_request.refresh_from_db()
    # Breached at 15:30: two wall-clock hours at level 2, like the 45 minutes above but not mixed up with them.
    assert (standard_request.due_at, standard_request.remind_at) == (
        monday + timedelta(hours=17, minutes=30),
        monday + timedelta(hours=17),
    )
    office_request.refresh_from_db()
    quick_request.refresh_from_db()
    # Breached at 16:00 with one working hour left on Monday: the other hour is Tuesday 09:00-10:00.
    assert (office_request.level_started_at, office_request.due_at, office_request.remind_at) == (
        monday + timedelta(hours=16),
        monday + timedelta(days=1, hours=10),
        monday + timedelta(days=1, hours=9, minutes=30),
    )
    # Breached at 15:45: 45 wall-clock minutes at level 2, reminder at 75 % of them.
    assert (quick_request.level_started_at, quick_request.due_at, quick_request.remind_at) == (
        monday + timedelta(hours=15, minutes=45),
        monday + timedelta(hours=16, minutes=30),
        monday + timedelta(hours=16, minutes=18, seconds=45),
    )
    assert sorted(
        Escalation.objects.values_list("request_id", "from_level", "to_level", "breached_at", "new_due_at")
    ) == sorted(
        [
            (office_request.pk, 1, 2, office_request.level_started_at, office_request.due_at),
            (quick_request.pk, 1, 2, quick_request.level_started_at, quick_request.due_at),
            (standard_request.pk, 1, 2, standard_request.level_started_at, standard_request.due_at),
        ]
    )


def test_a_delegate_standing_in_is_reminded_and_told_of_escalations(pending, manager_low, director, outsider):
    today = timezone.localdate()
    Delegation.objects.create(approver=director, delegate=outsider, starts_on=today, ends_on=today)
    sla_sweep(now=at(plus=120))
    assert texts(outsider) == [f"{pending.reference} was escalated to you (level 2) after an SLA breach."]


def test_every_notification_of_a_sweep_is_queued_for_email_once(
    rep, policy, django_capture_on_commit_callbacks, monkeypatch
):
    for n in range(3):
        exception_request_file(rep=rep, facts=facts(policy, customer_ref=f"E-{n}", amount=Decimal("300")), now=FILED)
    queued: list[list[int]] = []
    monkeypatch.setattr("requests.tasks.send_notification_emails.delay", queued.append)
    before = Notification.objects.order_by("pk").last().pk  # the arrivals of filing
    with django_capture_on_commit_callbacks(execute=True):
        sla_sweep(now=at(plus=90), batch_size=2)
        sla_sweep(now=at(plus=120), batch_size=2)
    written = Notification.objects.filter(pk__gt=before).values_list("pk", flat=True)
    # Reminders to two managers; escalations to them and the rep, an arrival to the director.
    assert len(written) == 3 * 2 + 3 * 4
    assert Notification.objects.filter(pk__gt=before, kind="arrived").count() == 3
    assert sorted(pk for chunk in queued for pk in chunk) == sorted(written)


def test_escalation_email_and_notification_list_give_the_new_deadline(
    client, pending, director, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sla_sweep(now=at(plus=120))
    (email,) = [m for m in mailoutbox if m.to == [director.email]]
    due = timezone.localtime(at(plus=240))
    assert f"Deadline: {due:%a %-d %b %Y, %H:%M} (Europe/London)" in email.body
    assert f"/requests/{pending.pk}/" in email.body
    client.force_login(director)
    with time_machine.travel(at(plus=150), tick=False):
        page = client.get(reverse("requests:notifications")).text
    assert f"due {due:%-d %b, %H:%M} (1 h 30 min left)" in page


def test_notification_list_gives_no_deadline_once_decided(client, pending, manager_high):
    sla_sweep(now=at(plus=90))
    exception_request_decide(request_id=pending.pk, approver=manager_high, approve=True, note="Fine", alternative="")
    client.force_login(manager_high)
    page = client.get(reverse("requests:notifications")).text
    assert f"Reminder: {pending.reference} is due soon." in page
    assert "left)" not in page
