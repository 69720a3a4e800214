"""The audit trail: who touched which lead from where, and nobody can rewrite it."""

import pytest
from django.db import DatabaseError, transaction
from django.test import RequestFactory

from crm.audit_context import client_ip
from crm.models import AuditEvent
from crm.services import audit_record
from leads.models import Stage
from tests.factories import make_lead

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AdmissionsDesk/1.0"


@pytest.fixture
def lead(team_a, counselor):
    return make_lead(team=team_a, owner=counselor)


@pytest.fixture
def event(counselor, lead):
    return audit_record(
        actor=counselor,
        action=AuditEvent.Action.VIEW,
        object_type="lead",
        object_id=lead.pk,
        lead_id=lead.pk,
    )


def test_viewing_a_lead_records_who_from_which_address_and_browser(
    lead, counselor, client_for
):
    response = client_for(counselor).get(
        f"/api/v1/leads/{lead.pk}/",
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT=BROWSER,
    )

    assert response.status_code == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW, lead_id=lead.pk)
    assert event.actor == counselor
    assert event.actor_username == "maya"
    assert (event.object_type, event.object_id) == ("lead", str(lead.pk))
    assert event.ip_address == "203.0.113.7"
    assert event.user_agent == BROWSER
    assert event.channel == "api"


def test_a_change_made_through_the_api_is_audited_with_its_origin(
    lead, counselor, client_for
):
    response = client_for(counselor).post(
        f"/api/v1/leads/{lead.pk}/transition/",
        {"to": Stage.CONTACTED},
        format="json",
        REMOTE_ADDR="198.51.100.23",
        HTTP_USER_AGENT=BROWSER,
    )

    assert response.status_code == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.UPDATE, lead_id=lead.pk)
    assert event.actor == counselor
    assert event.fields == ["stage"]
    assert event.detail == "new->contacted"
    assert event.ip_address == "198.51.100.23"
    assert event.user_agent == BROWSER


def test_an_overlong_user_agent_is_cut_to_fit(lead, counselor, client_for):
    client_for(counselor).get(
        f"/api/v1/leads/{lead.pk}/",
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT="A" * 600,
    )

    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW, lead_id=lead.pk)
    assert event.user_agent == "A" * 255


def test_work_done_outside_a_request_is_audited_as_the_system(counselor, lead):
    # `lead` was created by a service call with no request around it.
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE, lead_id=lead.pk)

    assert event.channel == "system"
    assert event.ip_address is None
    assert event.user_agent == ""


def test_the_request_origin_does_not_leak_into_later_work(
    lead, counselor, client_for, team_a
):
    client_for(counselor).get(f"/api/v1/leads/{lead.pk}/", REMOTE_ADDR="203.0.113.7")

    later = make_lead(team=team_a)

    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE, lead_id=later.pk)
    assert (event.channel, event.ip_address) == ("system", None)


def test_saving_an_audit_event_again_is_refused(event):
    event.action = AuditEvent.Action.DELETE
    event.actor_username = "someone-else"

    with pytest.raises(PermissionError):
        event.save()

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.action, stored.actor_username) == ("view", "maya")


def test_deleting_an_audit_event_is_refused(event):
    with pytest.raises(PermissionError):
        event.delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_database_refuses_to_update_audit_rows(event):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_username="someone-else")

    assert AuditEvent.objects.get(pk=event.pk).actor_username == "maya"


@pytest.mark.postgres
def test_postgresql_refuses_to_delete_audit_rows(event):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def _request(*, forwarded_for: str | None):
    extra = {"REMOTE_ADDR": "10.0.0.5"}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/api/v1/leads/", **extra)


@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "expected"),
    [
        # No proxy is trusted: a client-written header must not hide its address.
        (0, "198.51.100.9", "10.0.0.5"),
        (0, None, "10.0.0.5"),
        (1, "198.51.100.9, 203.0.113.5", "203.0.113.5"),
        (2, "198.51.100.9, 203.0.113.5", "198.51.100.9"),
        (2, "6.6.6.6, 198.51.100.9, 203.0.113.5", "198.51.100.9"),
        (3, "203.0.113.5", "203.0.113.5"),
        (1, None, "10.0.0.5"),
        # A proxy that writes "unknown" (or junk) must not break the request.
        (1, "unknown", "10.0.0.5"),
        (1, "198.51.100.9, <script>", "10.0.0.5"),
    ],
)
def test_client_ip_trusts_only_the_configured_number_of_proxies(
    settings, num_proxies, forwarded_for, expected
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}

    assert client_ip(_request(forwarded_for=forwarded_for)) == expected


def test_audit_behind_a_proxy_records_the_forwarded_client_address(
    settings, lead, counselor, client_for
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    client_for(counselor).get(
        f"/api/v1/leads/{lead.pk}/",
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_FORWARDED_FOR="198.51.100.77",
    )

    event = AuditEvent.objects.get(action=AuditEvent.Action.VIEW, lead_id=lead.pk)
    assert event.ip_address == "198.51.100.77"
