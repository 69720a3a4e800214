"""The Django admin: it renders, it audits, it goes through services, it scopes."""

import pytest

from crm.models import AuditEvent
from crm.services import audit_record
from leads.models import Activity, Lead

from ..factories import LeadSourceFactory, make_lead


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def lead(team_a, counselor):
    return make_lead(team=team_a, owner=counselor, city="Miami")


@pytest.fixture
def audit_event(admin_user, lead):
    return audit_record(
        actor=admin_user,
        action="export",
        object_type="lead",
        object_id=lead.pk,
        lead_id=lead.pk,
    )


def test_admin_pages_render_for_an_admin(
    admin_client, lead, counselor, team_a, audit_event
):
    source = LeadSourceFactory(slug="google-ads", name="Google Ads")
    urls = [
        "/admin/",
        "/admin/leads/lead/",
        f"/admin/leads/lead/{lead.pk}/change/",
        "/admin/crm/auditevent/",
        f"/admin/crm/auditevent/{audit_event.pk}/change/",
        "/admin/crm/user/add/",
        f"/admin/crm/user/{counselor.pk}/change/",
        "/admin/crm/team/add/",
        f"/admin/crm/team/{team_a.pk}/change/",
        "/admin/leads/leadsource/add/",
        f"/admin/leads/leadsource/{source.pk}/change/",
        "/admin/leads/activity/",
        "/admin/leads/stagechange/",
        "/admin/leads/touch/",
    ]

    statuses = {url: admin_client.get(url).status_code for url in urls}

    assert statuses == dict.fromkeys(urls, 200)


def test_opening_a_lead_in_the_admin_writes_a_view_row(admin_client, admin_user, lead):
    admin_client.get(f"/admin/leads/lead/{lead.pk}/change/")

    view = AuditEvent.objects.get(action="view", lead_id=lead.pk)
    assert view.actor == admin_user
    assert view.channel == "admin"


def test_lead_changelist_writes_a_list_row_per_lead_shown(
    admin_client, admin_user, lead, team_b
):
    other = make_lead(team=team_b)

    admin_client.get("/admin/leads/lead/")

    listed = AuditEvent.objects.filter(action="list", actor=admin_user)
    assert sorted(listed.values_list("lead_id", flat=True)) == sorted(
        [lead.pk, other.pk]
    )


def test_audit_trail_has_no_add_button_and_no_add_page(admin_client, audit_event):
    changelist = admin_client.get("/admin/crm/auditevent/")

    assert changelist.status_code == 200
    assert "/admin/crm/auditevent/add/" not in changelist.content.decode()
    assert admin_client.get("/admin/crm/auditevent/add/").status_code == 403


def test_audit_row_cannot_be_deleted_in_the_admin(admin_client, audit_event):
    response = admin_client.post(
        f"/admin/crm/auditevent/{audit_event.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 403
    assert AuditEvent.objects.filter(pk=audit_event.pk).exists()


def test_audit_row_cannot_be_changed_in_the_admin(admin_client, audit_event):
    response = admin_client.post(
        f"/admin/crm/auditevent/{audit_event.pk}/change/",
        {"action": "view", "object_type": "lead", "object_id": "1"},
    )

    assert response.status_code == 403
    audit_event.refresh_from_db()
    assert audit_event.action == "export"


def test_audit_rows_cannot_be_bulk_deleted_from_the_changelist(
    admin_client, audit_event
):
    response = admin_client.post(
        "/admin/crm/auditevent/",
        {
            "action": "delete_selected",
            "_selected_action": [audit_event.pk],
            "post": "yes",
        },
    )

    assert response.status_code in {200, 302, 403}
    assert AuditEvent.objects.filter(pk=audit_event.pk).exists()


def _change_form_data(response) -> dict:
    """The change form as a browser would post it back, unchanged."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None:
            value = ""
        elif isinstance(value, list | tuple):
            value = [str(item) for item in value]
        else:
            value = str(value)
        data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        # The inlines are read-only history: post back no rows of them.
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "0",
            }
        )
    return data


def test_saving_a_lead_in_the_admin_goes_through_the_service(
    admin_client, admin_user, lead
):
    url = f"/admin/leads/lead/{lead.pk}/change/"
    data = _change_form_data(admin_client.get(url))
    data["city"] = "Orlando"

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.city == "Orlando"
    update = lead.activities.get(kind=Activity.Kind.UPDATE)
    assert update.actor == admin_user
    assert update.data == {"fields": ["city"]}
    audit = AuditEvent.objects.get(action="update", lead_id=lead.pk)
    assert audit.fields == ["city"]
    assert audit.channel == "admin"


def test_admin_refuses_an_owner_outside_the_leads_team(
    admin_client, lead, other_counselor
):
    url = f"/admin/leads/lead/{lead.pk}/change/"
    data = _change_form_data(admin_client.get(url))
    data["owner"] = str(other_counselor.pk)
    data["city"] = "Orlando"

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.owner != other_counselor
    assert lead.city == "Miami"


def test_supervisor_in_the_admin_sees_only_their_teams_leads(
    client, supervisor, counselor, other_counselor, team_a, team_b
):
    # Given a supervisor (by role alone, no model permissions), and two teams' leads
    mine = make_lead(team=team_a, owner=counselor, first_name="Inteam")
    theirs = make_lead(team=team_b, owner=other_counselor, first_name="Outteam")
    client.force_login(supervisor)

    # When they open the lead list and each lead
    changelist = client.get("/admin/leads/lead/")
    own_page = client.get(f"/admin/leads/lead/{mine.pk}/change/")
    other_page = client.get(f"/admin/leads/lead/{theirs.pk}/change/")

    # Then only their team's lead is listed and openable
    assert changelist.status_code == 200
    shown = list(changelist.context["cl"].result_list)
    assert shown == [mine]
    assert "Outteam" not in changelist.content.decode()
    assert own_page.status_code == 200
    assert other_page.status_code in {302, 404}
    assert "Outteam" not in other_page.content.decode()
    assert not AuditEvent.objects.filter(
        action="view", lead_id=theirs.pk, actor=supervisor
    ).exists()


def test_admin_has_no_way_to_delete_a_lead(admin_client, lead):
    response = admin_client.post(
        f"/admin/leads/lead/{lead.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 403
    assert Lead.objects.filter(pk=lead.pk).exists()


def test_supervisor_role_opens_lead_admin_and_its_history(
    client, supervisor, counselor, team_a
):
    # Given a supervisor with no Django model permissions at all
    lead = make_lead(team=team_a, owner=counselor, first_name="Riley")
    client.force_login(supervisor)

    # When they open the admin index, the lead and the stage history list
    index = client.get("/admin/")
    page = client.get(f"/admin/leads/lead/{lead.pk}/change/")
    history = client.get("/admin/leads/stagechange/")

    # Then the lead section is offered and both pages open, with the lead's timeline
    assert index.status_code == 200
    assert "/admin/leads/lead/" in index.content.decode()
    assert page.status_code == 200
    assert "Lead created" in page.content.decode()
    assert history.status_code == 200
    # ...but the audit trail stays an administrator's tool
    assert client.get("/admin/crm/auditevent/").status_code == 403
