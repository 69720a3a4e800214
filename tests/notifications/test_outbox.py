"""The outbox: a text is a row first, sent at most once, and never sent blindly."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from crm.models import AuditEvent
from leads.models import Activity, Substance
from notifications import services
from notifications.backends import locmem
from notifications.backends.base import (
    SmsOutcomeUnknown,
    SmsPermanentError,
    SmsTemporaryError,
)
from notifications.models import (
    Alert,
    AlertPreference,
    ConsentEvent,
    Message,
    MessageTemplate,
)

from ..factories import make_lead
from .conftest import NEW_YORK, WEEKDAY_NOON_NY, give_consent


def send_now(message: Message) -> services.SendOutcome:
    return services.message_send(message_id=message.pk)


@pytest.fixture(autouse=True)
def _noon_in_new_york():
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        yield


# --- At most once ------------------------------------------------------------------


def test_a_text_is_handed_over_once_even_when_its_task_runs_twice(
    lead, counselor, sent
):
    message = services.message_send_manual(lead=lead, body="Hi Casey", by=counselor)
    assert message.status == Message.Status.PENDING

    first = send_now(message)
    second = send_now(message)

    assert (first.result, second.result) == ("sent", "skipped")
    assert len(sent) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.twilio_sid == sent[0].sid
    assert message.attempts == 1
    assert sent[0].status_callback.endswith(f"/twilio/sms/status/?m={message.pk}")


def test_first_text_after_consent_carries_brand_rates_and_stop_help_once(
    lead, counselor, settings
):
    settings.SMS_BRAND_NAME = "Harbor Recovery"

    first = services.message_send_manual(lead=lead, body="Hi Casey", by=counselor)
    second = services.message_send_manual(lead=lead, body="Still there?", by=counselor)

    assert first.body.startswith("Hi Casey\n")
    assert "Harbor Recovery" in first.body
    assert "Msg & data rates may apply" in first.body
    assert "Reply STOP to opt out, HELP for help" in first.body
    assert second.body == "Still there?"


# --- Consent ------------------------------------------------------------------------


def test_no_consent_means_not_sent_and_recorded_as_blocked(team_a, counselor, sent):
    lead = make_lead(team=team_a, owner=counselor, state="NY", phone="+12125550100")

    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)

    assert message.status == Message.Status.BLOCKED
    assert message.blocked_reason == Message.BlockedReason.NO_CONSENT
    assert "consent" in message.error_message
    assert send_now(message).result == "skipped"
    assert sent == []
    line = lead.activities.get(kind=Activity.Kind.SMS, data__message=message.pk)
    assert line.summary.startswith("Text not sent")


def test_an_opt_out_after_queueing_stops_the_send(lead, counselor, sent):
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)
    services.consent_record(
        phone=str(lead.phone),
        kind=ConsentEvent.Kind.OPT_OUT,
        source=ConsentEvent.Source.KEYWORD,
    )

    outcome = send_now(message)

    assert outcome.result == "blocked"
    message.refresh_from_db()
    assert message.blocked_reason == Message.BlockedReason.OPTED_OUT
    assert sent == []


def test_twilio_21610_records_the_opt_out_and_blocks_later_texts(lead, counselor, sent):
    locmem.fail_next(SmsPermanentError("unsubscribed", code=21610, http_status=400))
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)

    assert send_now(message).result == "failed"

    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.FAILED, 21610)
    ledger = ConsentEvent.objects.filter(phone=str(lead.phone)).first()
    assert (ledger.kind, ledger.source) == ("opt_out", "twilio_error")
    later = services.message_send_manual(lead=lead, body="Hello?", by=counselor)
    assert later.blocked_reason == Message.BlockedReason.OPTED_OUT
    assert sent == []


# --- Failures -----------------------------------------------------------------------


def test_temporary_errors_are_retried_with_backoff_then_given_up(
    lead, counselor, sent, settings
):
    settings.SMS_MAX_ATTEMPTS = 3
    locmem.fail_next(SmsTemporaryError("busy", code=20429, http_status=429), count=3)
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)

    first = send_now(message)
    message.refresh_from_db()
    assert first.result == "retry"
    assert message.status == Message.Status.PENDING
    assert message.error_code == 20429
    assert message.next_attempt_at - timezone.now() > datetime.timedelta(seconds=8)
    # Not due yet: a duplicate task does nothing.
    assert send_now(message).result == "not_due"

    for _ in range(2):
        Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        outcome = send_now(message)

    message.refresh_from_db()
    assert outcome.result == "failed"
    assert (message.status, message.attempts) == (Message.Status.FAILED, 3)
    assert sent == []


def test_permanent_errors_are_not_retried(lead, counselor):
    locmem.fail_next(SmsPermanentError("invalid To", code=21211, http_status=400))
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)

    send_now(message)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())

    assert send_now(message).result == "skipped"
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.FAILED, 21211)


def test_an_unknown_outcome_is_flagged_for_the_supervisor_and_never_resent(
    lead, counselor, supervisor, sent
):
    locmem.fail_next(SmsOutcomeUnknown("read timeout"))
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)

    assert send_now(message).result == "unknown"
    with time_machine.travel(WEEKDAY_NOON_NY + datetime.timedelta(hours=1)):
        services.outbox_sweep()
        assert send_now(message).result == "skipped"

    message.refresh_from_db()
    assert message.status == Message.Status.UNKNOWN
    assert sent == []
    alert = Alert.objects.get(user=supervisor)
    assert alert.kind == AlertPreference.Kind.MESSAGE_UNKNOWN
    assert f"#{message.pk}" in alert.text


def test_a_supervisor_settles_an_unknown_text_by_sending_it_again(
    lead, counselor, supervisor, sent
):
    locmem.fail_next(SmsOutcomeUnknown("read timeout"))
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)
    send_now(message)

    copy = services.message_resolve_unknown(
        message=message, went_out=False, by=supervisor
    )
    send_now(copy)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert [s.body for s in sent] == [copy.body]
    assert AuditEvent.objects.filter(
        object_type="message", object_id=str(message.pk), actor=supervisor
    ).exists()


# --- The sweeper --------------------------------------------------------------------


def test_the_sweeper_enqueues_again_a_text_whose_task_was_lost(lead, counselor):
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)

    with time_machine.travel(WEEKDAY_NOON_NY + datetime.timedelta(minutes=2)):
        result = services.outbox_sweep()
        again = services.outbox_sweep()

    assert result.requeued == 1
    assert again.requeued == 0  # just enqueued: give that task its time
    message.refresh_from_db()
    assert message.enqueued_at > message.created_at


def test_the_sweeper_marks_a_send_stuck_midway_as_unknown(lead, counselor):
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENDING, sending_started_at=timezone.now()
    )

    with time_machine.travel(WEEKDAY_NOON_NY + datetime.timedelta(minutes=10)):
        result = services.outbox_sweep()

    assert result.unknown == 1
    message.refresh_from_db()
    assert message.status == Message.Status.UNKNOWN


# --- Quiet hours --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected_status", "expected_send_at_ny"),
    [
        ("CA", Message.Status.SCHEDULED, datetime.time(11, 0)),  # 05:30 in LA
        ("NY", Message.Status.PENDING, None),
    ],
)
def test_automated_text_at_0830_new_york_waits_for_pacific_leads_only(
    team_a, counselor, state, expected_status, expected_send_at_ny
):
    lead = make_lead(team=team_a, owner=counselor, state=state, phone="+13105550123")
    give_consent(str(lead.phone), lead=lead)
    at = datetime.datetime(2026, 12, 1, 8, 30, tzinfo=NEW_YORK)

    with time_machine.travel(at):
        message = services.message_send_automated(
            lead=lead, template_key=MessageTemplate.Key.WEB_AUTO_REPLY
        )

    assert message.status == expected_status
    if expected_send_at_ny is not None:
        assert message.scheduled_for.astimezone(NEW_YORK).time() == expected_send_at_ny
        # Released by the sweeper when the time comes, not before.
        with time_machine.travel(at + datetime.timedelta(hours=2)):
            assert services.outbox_sweep().released == 0
        with time_machine.travel(at + datetime.timedelta(hours=2, minutes=31)):
            assert services.outbox_sweep().released == 1
        message.refresh_from_db()
        assert message.status == Message.Status.PENDING


def test_a_counselors_text_outside_quiet_hours_needs_a_logged_override(
    team_a, counselor, sent
):
    lead = make_lead(team=team_a, owner=counselor, state="FL", phone="+13055550123")
    give_consent(str(lead.phone), lead=lead)

    with time_machine.travel(datetime.datetime(2026, 12, 1, 20, 30, tzinfo=NEW_YORK)):
        refused = services.message_send_manual(lead=lead, body="Hi", by=counselor)
        forced = services.message_send_manual(
            lead=lead, body="Hi", by=counselor, override_quiet_hours=True
        )
        send_now(forced)

    assert refused.blocked_reason == Message.BlockedReason.QUIET_HOURS
    assert "08:00" in refused.error_message
    assert forced.quiet_hours_override is True
    assert len(sent) == 1
    assert AuditEvent.objects.filter(
        object_type="message",
        object_id=str(forced.pk),
        detail__contains="quiet-hours-override",
    ).exists()


# --- Templates ----------------------------------------------------------------------


def test_templates_cannot_reach_health_details(team_a, counselor):
    lead = make_lead(
        team=team_a,
        owner=counselor,
        state="NY",
        phone="+12125550111",
        first_name="Robin",
        substances=[Substance.OPIOIDS],
        insurance_payer="Aetna",
    )
    give_consent(str(lead.phone), lead=lead)

    message = services.message_send_automated(
        lead=lead, template_key=MessageTemplate.Key.WEB_AUTO_REPLY
    )

    assert "Robin" in message.body
    assert counselor.first_name in message.body
    assert "opioid" not in message.body.lower()
    assert "Aetna" not in message.body
    with pytest.raises(services.ValidationError) as raised:
        services.template_check_body(
            key=MessageTemplate.Key.WEB_AUTO_REPLY,
            body="Hi {first_name}, about your {substances}",
        )
    assert "substances" in str(raised.value)


def test_every_automated_text_has_a_template_to_edit_after_migrate(db):
    keys = set(MessageTemplate.objects.values_list("key", flat=True))

    assert keys == set(MessageTemplate.Key.values)


def test_a_deactivated_template_sends_nothing(lead):
    MessageTemplate.objects.filter(key=MessageTemplate.Key.WEB_AUTO_REPLY).update(
        is_active=False
    )

    result = services.message_send_automated(
        lead=lead, template_key=MessageTemplate.Key.WEB_AUTO_REPLY
    )

    assert result is None
    assert not Message.objects.exists()


# --- Alerts -------------------------------------------------------------------------


def test_assigning_a_lead_alerts_the_new_owner_in_the_app_and_by_text(
    team_a, counselor, teammate, supervisor, sent
):
    teammate.phone = "+16465550199"
    teammate.save()
    lead = make_lead(team=team_a, owner=counselor, phone="+12125550155")

    from leads.services import lead_assign

    lead_assign(lead=lead, owner=teammate, by=supervisor)

    alert = Alert.objects.get(user=teammate)
    assert f"#{lead.pk}" in alert.text
    text = Message.objects.get(kind=Message.Kind.ALERT, recipient_user=teammate)
    assert text.to == "+16465550199"
    send_now(text)
    assert [s.to for s in sent] == ["+16465550199"]


def test_a_counselor_who_turned_off_text_alerts_gets_only_the_in_app_one(
    team_a, counselor, teammate, supervisor
):
    teammate.phone = "+16465550199"
    teammate.save()
    services.alert_preferences_set(
        user=teammate,
        preferences=[{"kind": "lead_assigned", "by_sms": False, "in_app": True}],
    )
    lead = make_lead(team=team_a, owner=counselor, phone="+12125550155")

    from leads.services import lead_assign

    lead_assign(lead=lead, owner=teammate, by=supervisor)

    assert Alert.objects.filter(user=teammate).count() == 1
    assert not Message.objects.filter(kind=Message.Kind.ALERT).exists()


def test_a_misconfigured_backend_leaves_the_text_waiting(lead, counselor, settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_AUTH_TOKEN = ""
    message = services.message_send_manual(lead=lead, body="Hi", by=counselor)

    with pytest.raises(ImproperlyConfigured):
        send_now(message)

    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.PENDING, 0)
