"""What filing keeps between requests (the rules version read once a request, each user's permissions, who may
decide and who holds the tier-2 right, with the policy's rules), and that a change reaches the very next one."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from exceptions_portal import roles
from policies import selectors
from policies.models import ApproverLevel, RepRight, RulesVersion
from policies.selectors import policy_with_rules, rules_stamp
from requests.api_models import WebhookEndpoint
from requests.authority import portal_today, stand_ins_of
from requests.models import Customer, Delegation, ExceptionRequest, Notification, Status
from requests.notifications import preference_save
from requests.services import exception_request_file
from requests.webhooks import endpoints_active
from tests.conftest import facts, form_data, make_user


def _queries(client, method: str, url: str, data: dict | None = None) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)
    return response.status_code, [query["sql"] for query in captured.captured_queries]


def _reads(statements: list[str], table: str) -> int:
    return sum(f'FROM "{table}"' in sql for sql in statements)


def test_permissions_are_read_once_and_kept_until_they_change(client, rep, policy):
    client.force_login(rep)
    status, first = _queries(client, "get", reverse("requests:new"))
    assert status == 200 and _reads(first, "auth_permission") == 2  # the user's own, and their groups'
    status, second = _queries(client, "get", reverse("requests:new"))
    assert status == 200 and _reads(second, "auth_permission") == 0
    assert _reads(second, "policies_rulesversion") == 1  # what says they are still current

    rep.groups.remove(Group.objects.get(name=roles.REPS))
    assert client.get(reverse("requests:new")).status_code == 403
    rep.groups.add(Group.objects.get(name=roles.REPS))
    assert client.get(reverse("requests:new")).status_code == 200


def test_a_permission_given_or_taken_reaches_the_next_request(client, outsider, policy):
    client.force_login(outsider)
    assert client.get(reverse("requests:new")).status_code == 403
    app_label, codename = roles.FILE_PERMISSION.split(".")
    permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    outsider.user_permissions.add(permission)
    assert client.get(reverse("requests:new")).status_code == 200
    # Through a group's permissions: a group of the outsider's loses it, then gains it.
    group = Group.objects.create(name="Helpers")
    group.user_set.add(outsider)
    outsider.user_permissions.remove(permission)
    assert client.get(reverse("requests:new")).status_code == 403
    group.permissions.add(permission)
    assert client.get(reverse("requests:new")).status_code == 200
    outsider.is_active = False
    outsider.save()
    assert client.get(reverse("requests:new")).status_code != 200


def test_a_filing_reads_the_rules_version_once_and_the_policy_not_at_all(client, rep, policy):
    client.force_login(rep)
    client.post(reverse("requests:new"), form_data(policy, customer_ref="WARM"))  # fills the caches
    status, statements = _queries(client, "post", reverse("requests:new"), form_data(policy, customer_ref="NEW"))
    assert status == 302
    assert _reads(statements, "policies_rulesversion") == 1
    assert _reads(statements, "policies_policy") == 0
    assert _reads(statements, "auth_permission") == 0
    assert _reads(statements, "policies_repright") == 0
    # A new customer: neither locked nor searched for earlier exceptions; on PostgreSQL not even looked up (the
    # insert would find a known one), elsewhere looked up once.
    assert _reads(statements, "requests_customer") == (0 if connection.vendor == "postgresql" else 1)
    assert not any("FOR UPDATE" in sql for sql in statements)
    assert not any('FROM "requests_exceptionrequest" WHERE' in sql for sql in statements)  # earlier exceptions


def test_within_a_request_the_rules_version_is_read_once_and_again_after_a_change(policy, django_assert_num_queries):
    # What Django's request_started and request_finished signals call (policies.signals); sending the signals
    # themselves would also close the test's database connection.
    selectors.request_started()
    try:
        with django_assert_num_queries(1):
            before = rules_stamp()
            assert rules_stamp() == before
        tier = policy.tiers.get(level=1)
        tier.money_cap = Decimal("10.00")
        tier.save()  # a change the request makes itself
        after = rules_stamp()
        assert after != before and after == RulesVersion.objects.get(pk=1).stamp
    finally:
        selectors.request_finished()
    with django_assert_num_queries(2):  # outside a request, every read asks the database
        rules_stamp()
        rules_stamp()


def test_the_tier2_right_given_in_admin_reaches_the_next_filing(rep, policy):
    amount = {"amount": Decimal("100.00")}  # tier 2: granted at once only by a rep holding the right
    assert exception_request_file(rep=rep, facts=facts(policy, customer_ref="A", **amount)).status == Status.PENDING
    right = RepRight.objects.create(policy=policy, user=rep)
    assert exception_request_file(rep=rep, facts=facts(policy, customer_ref="B", **amount)).status == Status.GRANTED
    right.delete()
    assert exception_request_file(rep=rep, facts=facts(policy, customer_ref="C", **amount)).status == Status.PENDING
    # Through a group: the right given to a group, then the rep joining and leaving it.
    group = Group.objects.create(name="Senior reps")
    RepRight.objects.create(policy=policy, group=group)
    assert exception_request_file(rep=rep, facts=facts(policy, customer_ref="D", **amount)).status == Status.PENDING
    rep.groups.add(group)
    assert exception_request_file(rep=rep, facts=facts(policy, customer_ref="E", **amount)).status == Status.GRANTED
    rep.groups.remove(group)
    assert exception_request_file(rep=rep, facts=facts(policy, customer_ref="F", **amount)).status == Status.PENDING


def _told(request: ExceptionRequest) -> set[str]:
    return set(Notification.objects.filter(request=request).values_list("user__username", flat=True))


def test_who_is_told_of_a_pending_filing_follows_roles_and_out_of_office_at_once(
    rep, policy, manager_low, manager_high
):
    def file(ref: str) -> ExceptionRequest:
        request = exception_request_file(rep=rep, facts=facts(policy, customer_ref=ref, amount=Decimal("300.00")))
        assert request.status == Status.PENDING and request.approval_level == 1
        return request

    assert _told(file("A")) == {"manager_low", "manager_high"}
    manager_low.groups.remove(Group.objects.get(name=roles.APPROVERS))  # no longer an approver: told nothing
    assert _told(file("B")) == {"manager_high"}
    # An out-of-office renews the rules version, under which who may decide is kept (notifications.deciders):
    # its stand-in is told from the next filing, and no longer once it is over.
    stand_in = make_user("stand_in")
    stamp = RulesVersion.objects.get(pk=1).stamp
    today = portal_today()
    delegation = Delegation.objects.create(approver=manager_high, delegate=stand_in, starts_on=today, ends_on=today)
    assert RulesVersion.objects.get(pk=1).stamp != stamp
    assert _told(file("C")) == {"manager_high", "stand_in"}
    delegation.starts_on, delegation.ends_on = today - timedelta(days=2), today - timedelta(days=1)
    delegation.save()
    assert _told(file("D")) == {"manager_high"}
    # A new holder of the level, through a new approver row.
    newcomer = make_user("newcomer", roles.APPROVERS)
    ApproverLevel.objects.create(policy=policy, level=1, user=newcomer, money_authority=Decimal("500"))
    assert _told(file("E")) == {"manager_high", "newcomer"}


def test_a_known_customer_filed_as_new_is_found_and_its_exceptions_counted(rep, policy):
    first = exception_request_file(rep=rep, facts=facts(policy, customer_ref="A-1"))
    assert first.status == Status.GRANTED
    # Filed as for a new customer first (on PostgreSQL): the insert finds the row, and it is filed as for theirs.
    again = exception_request_file(rep=rep, facts=facts(policy, customer_ref="a-1"))
    assert Customer.objects.count() == 1 and again.customer_id == first.customer_id
    assert again.is_repeat and again.status == Status.PENDING  # the one-time rule saw the first exception


def test_the_cached_policy_is_the_one_the_form_validates(client, rep, policy):
    policy_with_rules(policy.pk)
    policy.active = False
    policy.save()
    client.force_login(rep)
    response = client.post(reverse("requests:new"), form_data(policy))
    assert response.status_code == 200 and ExceptionRequest.objects.count() == 0
    assert "no longer active" in response.text or "not active" in response.text


def test_after_a_request_the_rules_version_is_read_again(client, rep, policy):
    client.force_login(rep)
    assert client.get(reverse("requests:new")).status_code == 200
    RulesVersion.objects.filter(pk=1).update(stamp="changed-by-another-process")  # no signal in this one
    assert rules_stamp() == "changed-by-another-process"


def test_who_wants_digests_is_read_with_who_may_decide(client, rep, policy, manager_low, manager_high):
    from requests.models import NotificationPreference

    NotificationPreference.objects.create(user=manager_low, digest_minutes=15)
    client.force_login(rep)
    status, statements = _queries(
        client, "post", reverse("requests:new"), form_data(policy, customer_ref="P", amount="300.00")
    )
    assert status == 302
    assert not any(sql.startswith('SELECT "requests_notificationpreference"') for sql in statements)
    held = dict(Notification.objects.values_list("user__username", "in_digest"))
    assert held == {"manager_low": True, "manager_high": False}


def _delegation_reads(call) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as captured:
        result = call()
    return result, _reads([query["sql"] for query in captured.captured_queries], "requests_delegation")


def test_the_reps_stand_ins_are_kept_until_an_out_of_office_changes(rep, policy, manager_low, manager_high):
    def stand_ins() -> tuple[object, int]:
        return _delegation_reads(lambda: stand_ins_of(rep_ids=[rep.pk, manager_low.pk])[rep.pk])

    assert stand_ins() == (frozenset(), 1)
    assert stand_ins() == (frozenset(), 0)  # kept under the rules version
    today = portal_today()
    absence = Delegation.objects.create(approver=rep, delegate=manager_low, starts_on=today, ends_on=today)
    assert stand_ins() == (frozenset({manager_low.pk}), 1)
    # Segregation of duties at once: the rep's stand-in does not count as who may approve the rep's request.
    request = exception_request_file(rep=rep, facts=facts(policy, customer_ref="S-1", amount=Decimal("300.00")))
    assert request.status == Status.PENDING and "manager_low" not in _told(request)
    absence.delete()
    assert stand_ins() == (frozenset(), 1)
    # Another day is read afresh (the date is part of what is kept).
    tomorrow = today + timedelta(days=1)
    Delegation.objects.create(approver=rep, delegate=manager_high, starts_on=tomorrow, ends_on=tomorrow)
    assert _delegation_reads(lambda: stand_ins_of(rep_ids=[rep.pk], today=tomorrow)[rep.pk])[0] == frozenset(
        {manager_high.pk}
    )
    assert stand_ins() == (frozenset(), 1)


def test_a_digest_preference_reaches_the_next_arrival_notice(rep, policy, manager_low, manager_high):
    def held(ref: str) -> set[str]:
        request = exception_request_file(rep=rep, facts=facts(policy, customer_ref=ref, amount=Decimal("300.00")))
        rows = Notification.objects.filter(request=request, in_digest=True)
        return set(rows.values_list("user__username", flat=True))

    assert held("D-1") == set()
    preference_save(user=manager_low, digest_minutes=30, time_zone="")
    assert held("D-2") == {"manager_low"}
    preference_save(user=manager_low, digest_minutes=0, time_zone="")
    assert held("D-3") == set()


def test_whether_a_webhook_endpoint_listens_is_kept_until_one_changes(admin_user):
    def active() -> tuple[bool, int]:
        with CaptureQueriesContext(connection) as captured:
            found = endpoints_active()
        return found, _reads([query["sql"] for query in captured.captured_queries], "requests_webhookendpoint")

    assert active() == (False, 1)
    assert active() == (False, 0)
    endpoint = WebhookEndpoint.objects.create(name="Helpdesk", url="https://example.com/hook", owner=admin_user)
    assert active() == (True, 1)
    endpoint.active = False
    endpoint.save()
    assert active() == (False, 1)
