"""The texting admin: it renders, templates are checked, supervisors settle unknowns."""

import time_machine

from notifications import services
from notifications.backends import locmem
from notifications.backends.base import SmsOutcomeUnknown
from notifications.models import Message, MessageTemplate

from ..factories import make_lead
from .conftest import WEEKDAY_NOON_NY


def test_texting_admin_pages_render(client, admin_user, lead, counselor):
    client.force_login(admin_user)
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)
    template = MessageTemplate.objects.get(key="missed_call")
    urls = [
        "/admin/notifications/message/",
        f"/admin/notifications/message/{message.pk}/change/",
        "/admin/notifications/consentevent/",
        "/admin/notifications/messagetemplate/",
        f"/admin/notifications/messagetemplate/{template.pk}/change/",
        "/admin/notifications/alert/",
        "/admin/notifications/alertpreference/",
    ]

    statuses = {url: client.get(url).status_code for url in urls}

    assert statuses == dict.fromkeys(urls, 200)


def test_a_template_with_a_forbidden_placeholder_is_refused(client, admin_user, db):
    client.force_login(admin_user)
    template = MessageTemplate.objects.get(key="missed_call")
    url = f"/admin/notifications/messagetemplate/{template.pk}/change/"

    refused = client.post(
        url,
        {
            "body": "Hi {first_name}, about your {insurance_member_id}",
            "is_active": "on",
        },
    )
    saved = client.post(
        url, {"body": "Hi {first_name}, call us back.", "is_active": "on"}
    )

    assert refused.status_code == 200
    assert "Unknown placeholder" in refused.content.decode()
    assert saved.status_code == 302
    template.refresh_from_db()
    assert template.body == "Hi {first_name}, call us back."
    assert template.updated_by == admin_user


def test_a_supervisor_settles_an_unknown_text_from_the_admin(
    client, supervisor, lead, counselor, team_b, other_counselor
):
    locmem.fail_next(SmsOutcomeUnknown("read timeout"))
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        message = services.message_send_manual(lead=lead, body="Hi", by=counselor)
        services.message_send(message_id=message.pk)
        foreign = make_lead(team=team_b, owner=other_counselor, phone="+13125550100")
        services.message_send_manual(lead=foreign, body="Hi", by=other_counselor)
    client.force_login(supervisor)

    listing = client.get("/admin/notifications/message/", {"status": "unknown"})
    settled = client.post(
        "/admin/notifications/message/",
        {"action": "mark_went_out", "_selected_action": [message.pk]},
    )

    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1  # not the other team's text
    assert settled.status_code == 302
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert str(supervisor) in message.error_message
