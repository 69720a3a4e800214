"""`lead_intake`: dedupe, routing, and everything a new lead gets in one transaction."""

import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import User
from leads.models import (
    Activity,
    CallBack,
    Channel,
    Lead,
    LostReason,
    Priority,
    RoutingRule,
    Stage,
    Touch,
)
from leads.services import lead_transition
from leads.services.intake import SmsConsent, lead_intake, normalize_phone
from leads.services.routing import counselor_take_turn
from notifications import services as notification_services
from notifications.models import Alert, ConsentEvent, Message, MessageTemplate
from tests.factories import LeadSourceFactory, TeamFactory, UserFactory, make_lead

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
WEEKDAY_NOON_NY = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=NEW_YORK)
PHONE = "+13055550142"


@pytest.fixture(autouse=True)
def _weekday_noon():
    with time_machine.travel(WEEKDAY_NOON_NY, tick=True):
        yield


@pytest.fixture
def source(team_a):
    return LeadSourceFactory(name="IOP landing page", slug="iop", team=team_a)


def intake(source=None, *, attribution=None, sms_consent=None, **details):
    details.setdefault("first_name", "Casey")
    details.setdefault("phone", PHONE)
    return lead_intake(
        channel=Channel.WEB_FORM,
        source=source,
        details=details,
        attribution=attribution,
        message="Please call me.",
        sms_consent=sms_consent,
    )


def consent() -> SmsConsent:
    return SmsConsent(text="I agree to texts.", version="v1", ip_address="192.0.2.1")


def make_counselor(team, username: str, **fields) -> User:
    user = UserFactory(username=username, first_name=username.title(), **fields)
    team.members.add(user)
    return user


def close_as_lost(lead: Lead, *, days_ago: int) -> Lead:
    return lead_transition(
        lead=lead,
        to=Stage.LOST,
        by=None,
        reason=LostReason.UNREACHABLE,
        at=timezone.now() - timedelta(days=days_ago),
    )


def row_counts() -> dict[str, int]:
    return {
        "leads": Lead.objects.count(),
        "touches": Touch.objects.count(),
        "callbacks": CallBack.objects.count(),
        "consents": ConsentEvent.objects.count(),
        "messages": Message.objects.count(),
        "alerts": Alert.objects.count(),
    }


# --- Phone numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "e164"),
    [
        ("(305) 555-0142", "+13055550142"),
        ("305.555.0142", "+13055550142"),
        ("1-305-555-0142", "+13055550142"),
        ("+1 305 555 0142", "+13055550142"),
        ("+44 20 7946 0958", "+442079460958"),
        ("", ""),
    ],
)
def test_phone_is_stored_as_e164_with_the_us_as_default(given, e164):
    assert normalize_phone(given) == e164


@pytest.mark.parametrize("given", ["12", "555-0142", "not a phone", "+1 000 000 0000"])
def test_an_impossible_phone_is_a_field_error(given):
    with pytest.raises(ValidationError) as caught:
        normalize_phone(given)

    assert "phone" in caught.value.message_dict


# --- A new lead ----------------------------------------------------------------------


def test_new_lead_gets_owner_callback_alert_and_reply_in_one_go(source, counselor):
    result = intake(source, sms_consent=consent())

    lead = result.lead
    assert (result.duplicate, lead.owner, lead.team) == (False, counselor, source.team)
    callback = CallBack.objects.get(lead=lead)
    assert (callback.status, callback.reason, callback.owner) == (
        "due",
        "new_lead",
        counselor,
    )
    assert callback.due_at <= timezone.now()
    assert Alert.objects.get(user=counselor).kind == "lead_assigned"
    reply = Message.objects.get(lead=lead)
    assert (reply.kind, reply.template.key) == ("automated", "web_auto_reply")
    assert reply.body.startswith("Hi Casey, this is Maya with")
    lead.refresh_from_db()
    assert lead.sla_due_at == lead.created_at + timedelta(minutes=source.sla_minutes)


def test_a_failure_late_in_intake_leaves_nothing_behind(source, counselor, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("outbox down")

    monkeypatch.setattr(notification_services, "message_send_automated", broken)

    with pytest.raises(RuntimeError):
        intake(source, sms_consent=consent())

    assert row_counts() == dict.fromkeys(row_counts(), 0)
    counselor.refresh_from_db()
    assert counselor.last_routed_at is None


def test_consent_on_a_repeat_is_for_the_number_typed_next_to_the_box(source, counselor):
    lead = intake(source, email="casey@example.org").lead

    intake(
        source, phone="+13055550199", email="casey@example.org", sms_consent=consent()
    )

    given = ConsentEvent.objects.get()
    assert (given.lead, str(given.phone)) == (lead, "+13055550199")
    assert not ConsentEvent.objects.filter(phone=PHONE).exists()


def test_no_second_auto_reply_to_a_number_within_twelve_hours(source, counselor):
    first = intake(source, sms_consent=consent()).lead
    lead_transition(
        lead=first,
        to=Stage.REFERRED_OUT,
        by=counselor,
        reason="Needs a higher level of care",
        referred_to="County detox",
    )

    with time_machine.travel(WEEKDAY_NOON_NY + timedelta(hours=2)):
        second = intake(source, sms_consent=consent()).lead
    with time_machine.travel(WEEKDAY_NOON_NY + timedelta(hours=2, minutes=5)):
        lead_transition(
            lead=second, to=Stage.LOST, by=counselor, reason=LostReason.SPAM
        )
    with time_machine.travel(WEEKDAY_NOON_NY + timedelta(days=40)):
        third = intake(source, sms_consent=consent()).lead

    assert len({first.pk, second.pk, third.pk}) == 3
    replies = Message.objects.filter(template__key="web_auto_reply")
    assert sorted(replies.values_list("lead_id", flat=True)) == [first.pk, third.pk]


def test_no_auto_reply_without_consent(source, counselor):
    lead = intake(source).lead

    assert not Message.objects.filter(lead=lead).exists()


def test_an_auto_reply_after_hours_waits_for_texting_hours(source, counselor):
    with time_machine.travel(datetime.datetime(2026, 12, 1, 22, 30, tzinfo=NEW_YORK)):
        lead = intake(source, state="FL", sms_consent=consent()).lead

    reply = Message.objects.get(lead=lead)
    assert reply.status == Message.Status.SCHEDULED
    assert reply.scheduled_for == datetime.datetime(2026, 12, 2, 8, 0, tzinfo=NEW_YORK)


def test_waiting_lead_with_consent_gets_a_reply_naming_the_team(
    source, counselor, supervisor
):
    User.objects.filter(pk=counselor.pk).update(presence=User.Presence.OFFLINE)

    lead = intake(source, sms_consent=consent()).lead

    assert lead.owner is None
    assert "our admissions team" in Message.objects.get(lead=lead).body
    waiting = Alert.objects.get(user=supervisor)
    assert (waiting.kind, waiting.lead) == ("lead_waiting", lead)
    assert CallBack.objects.get(lead=lead).owner is None


def test_an_import_is_routed_but_pages_nobody(source, counselor):
    lead = lead_intake(
        channel=Channel.IMPORT,
        source=source,
        details={"phone": PHONE},
        sms_consent=consent(),
        speed_to_lead=False,
    ).lead

    assert lead.owner == counselor
    assert not CallBack.objects.exists()
    assert not Alert.objects.exists()
    assert not Message.objects.exists()
    assert ConsentEvent.objects.filter(lead=lead).count() == 1


# --- Repeat inquiries ----------------------------------------------------------------


def test_repeat_by_phone_adds_a_touch_and_keeps_first_touch_attribution(
    source, counselor
):
    first = intake(source, attribution={"utm_source": "google", "gclid": "g-1"}).lead

    result = intake(
        source,
        phone="305-555-0142",
        attribution={"utm_source": "facebook", "fbclid": "f-1"},
    )

    lead = result.lead
    assert (result.duplicate, lead.pk) == (True, first.pk)
    lead.refresh_from_db()
    assert lead.touches.count() == 2
    assert (lead.utm_source, lead.gclid, lead.fbclid) == ("google", "g-1", "")
    assert (lead.last_touch.utm_source, lead.last_touch.fbclid) == ("facebook", "f-1")
    assert lead.first_touch.utm_source == "google"
    assert lead.inquiry_count == 2


def test_repeat_by_email_in_another_case_finds_the_lead(source, counselor):
    first = intake(source, phone="", email="casey@example.org").lead

    result = intake(source, phone="", email="  Casey@EXAMPLE.org ")

    assert (result.duplicate, result.lead.pk) == (True, first.pk)


def test_repeat_raises_priority_up_to_urgent(source, counselor):
    lead = intake(source).lead
    assert lead.priority == Priority.NORMAL

    priorities = []
    for _ in range(3):
        intake(source)
        lead.refresh_from_db()
        priorities.append(lead.priority)

    assert priorities == [Priority.HIGH, Priority.URGENT, Priority.URGENT]


def test_repeat_alerts_the_owner_and_asks_for_a_call_once(source, counselor):
    lead = intake(source).lead
    CallBack.objects.filter(lead=lead).update(status=CallBack.Status.DONE)

    intake(source)
    intake(source)

    assert Alert.objects.filter(user=counselor, kind="repeat_inquiry").count() == 2
    repeat_calls = CallBack.objects.filter(lead=lead, reason="repeat_inquiry")
    assert [callback.status for callback in repeat_calls] == ["due"]


def test_repeat_fills_blank_details_but_never_overwrites(source, counselor):
    lead = intake(source, first_name="Casey", last_name="").lead

    intake(source, first_name="Kasey", last_name="Doe", state="FL")

    lead.refresh_from_db()
    assert (lead.first_name, lead.last_name, lead.state) == ("Casey", "Doe", "FL")


def test_repeat_goes_back_to_its_owner_even_when_busy_or_full(
    source, counselor, teammate
):
    assert intake(source).lead.owner == counselor
    User.objects.filter(pk=counselor.pk).update(
        presence=User.Presence.BUSY, max_open_leads=1
    )

    result = intake(source)

    assert result.lead.owner == counselor
    assert not Alert.objects.filter(user=teammate).exists()


def test_repeat_of_a_departed_owners_lead_goes_to_the_next_counselor(
    source, counselor, teammate
):
    lead = intake(source).lead
    assert lead.owner == counselor
    User.objects.filter(pk=counselor.pk).update(is_active=False)

    result = intake(source)

    assert result.lead.owner == teammate
    assert Alert.objects.filter(user=teammate, kind="repeat_inquiry").exists()
    # The call owed to the lead is in the new owner's queue, not the departed one's.
    assert list(CallBack.objects.open().values_list("owner", flat=True)) == [
        teammate.pk
    ]


def test_repeat_of_a_departed_owners_lead_with_nobody_free_waits_in_the_queue(
    source, counselor, supervisor
):
    lead = intake(source).lead
    User.objects.filter(pk=counselor.pk).update(is_active=False)

    result = intake(source)

    assert result.lead.owner is None
    lead.refresh_from_db()
    assert lead.owner is None
    assert list(CallBack.objects.open().values_list("owner", flat=True)) == [None]
    assert Alert.objects.filter(user=supervisor, kind="lead_waiting").count() == 1


def test_repeat_of_a_waiting_lead_with_nobody_free_tells_the_supervisors(
    source, counselor, supervisor
):
    User.objects.filter(pk=counselor.pk).update(presence=User.Presence.AWAY)
    intake(source)

    intake(source)

    kinds = list(Alert.objects.filter(user=supervisor).values_list("kind", flat=True))
    assert kinds == ["lead_waiting", "lead_waiting"]


def test_lost_29_days_ago_is_reopened_where_it_was(source, counselor):
    lead = intake(source).lead
    lead = lead_transition(lead=lead, to=Stage.ATTEMPTING_CONTACT, by=counselor)
    close_as_lost(lead, days_ago=29)

    result = intake(source, attribution={"utm_campaign": "retarget"})

    assert (result.duplicate, result.lead.pk) == (True, lead.pk)
    lead.refresh_from_db()
    assert lead.stage == Stage.ATTEMPTING_CONTACT
    assert lead.lost_reason == ""
    assert lead.last_touch.utm_campaign == "retarget"
    assert Lead.objects.count() == 1
    callback = CallBack.objects.open().get(lead=lead)
    assert (callback.status, callback.reason) == ("due", "repeat_inquiry")


def test_lost_31_days_ago_starts_a_new_lead(source, counselor):
    old = close_as_lost(intake(source).lead, days_ago=31)

    result = intake(source)

    assert result.duplicate is False
    assert result.lead.pk != old.pk
    old.refresh_from_db()
    assert (old.stage, old.touches.count()) == (Stage.LOST, 1)


def test_an_admitted_patient_asking_again_is_a_new_lead(source, counselor):
    old = make_lead(team=source.team, owner=counselor, phone=PHONE)
    Lead.objects.filter(pk=old.pk).update(stage=Stage.ADMITTED)

    result = intake(source)

    assert result.duplicate is False
    assert Lead.objects.count() == 2


def test_an_open_lead_wins_over_a_recently_lost_one(source, counselor):
    lost = close_as_lost(
        make_lead(team=source.team, phone="+13055550199", email="casey@example.org"),
        days_ago=3,
    )
    open_lead = make_lead(team=source.team, phone=PHONE, email="other@example.org")

    result = intake(source, email="casey@example.org")

    assert result.lead.pk == open_lead.pk
    lost.refresh_from_db()
    assert lost.stage == Stage.LOST


def test_repeat_by_email_of_a_lost_lead_whose_phone_is_open_elsewhere(
    source, counselor
):
    # Casey's old lead (lost last week) has the number that now belongs to an
    # open lead; writing in by e-mail alone must not be refused.
    lost = close_as_lost(
        make_lead(team=source.team, phone=PHONE, email="casey@example.org"),
        days_ago=7,
    )
    open_lead = make_lead(team=source.team, phone=PHONE, email="")

    result = intake(source, phone="", email="casey@example.org")

    assert (result.duplicate, result.lead.pk) == (True, open_lead.pk)
    assert open_lead.touches.count() == 2
    lost.refresh_from_db()
    assert lost.stage == Stage.LOST


# --- Routing rules -------------------------------------------------------------------


@pytest.fixture
def detox_team():
    team = TeamFactory(name="Detox", slug="detox")
    make_counselor(team, "dre")
    return team


def rule(team, position, **conditions):
    sources = conditions.pop("sources", [])
    routing_rule = RoutingRule.objects.create(
        team=team, position=position, name=f"rule {position}", **conditions
    )
    routing_rule.sources.set(sources)
    return routing_rule


def test_rules_run_by_position_and_the_first_match_wins(
    source, counselor, detox_team, team_b
):
    rule(team_b, 20, states=["FL"])
    rule(detox_team, 10, levels_of_care=["detox"])

    lead = intake(source, state="FL", level_of_care="detox").lead

    assert lead.team == detox_team
    assert lead.owner.username == "dre"
    routed = lead.activities.get(kind=Activity.Kind.ASSIGNMENT)
    assert "rule 10" in routed.summary


@pytest.mark.parametrize(
    ("conditions", "details", "matches"),
    [
        ({"states": ["FL", "GA"]}, {"state": "GA"}, True),
        ({"states": ["FL", "GA"]}, {"state": "NY"}, False),
        ({"states": ["FL"]}, {}, False),
        ({"levels_of_care": ["detox"]}, {"level_of_care": "detox"}, True),
        ({"levels_of_care": ["detox"]}, {}, False),
        ({"languages": ["es"]}, {"preferred_language": "es"}, True),
        ({"languages": ["es"]}, {}, False),
        ({}, {"state": "NY"}, True),
        ({"states": ["FL"], "levels_of_care": ["iop"]}, {"state": "FL"}, False),
    ],
)
def test_a_rule_matches_when_every_set_condition_does(
    source, counselor, detox_team, conditions, details, matches
):
    rule(detox_team, 1, **conditions)

    lead = intake(source, **details).lead

    assert (lead.team == detox_team) is matches


def test_a_rule_for_other_sources_does_not_match(source, counselor, detox_team):
    other = LeadSourceFactory(name="Partner", slug="partner")
    rule(detox_team, 1, sources=[other])

    assert intake(source).lead.team == source.team
    assert intake(other, phone="+13055550199").lead.team == detox_team


def test_inactive_rules_and_teams_are_skipped(source, counselor, detox_team, team_b):
    rule(detox_team, 1, is_active=False)
    rule(team_b, 2)
    team_b.is_active = False
    team_b.save()

    assert intake(source).lead.team == source.team


def test_no_rule_and_no_source_team_goes_to_the_first_active_team(team_a, counselor):
    lead = intake(None).lead

    assert (lead.team, lead.owner) == (team_a, counselor)


# --- Round-robin ---------------------------------------------------------------------


def test_round_robin_gives_each_available_counselor_a_turn(team_a, source):
    names = ["ana", "ben", "cy"]
    for name in names:
        make_counselor(team_a, name)
    make_counselor(team_a, "away", presence=User.Presence.AWAY)
    make_counselor(team_a, "gone", is_active=False)
    boss = UserFactory(username="boss", role=User.Role.SUPERVISOR)
    team_a.members.add(boss)

    owners = [
        intake(source, phone=f"+1305555010{n}").lead.owner.username for n in range(6)
    ]

    assert owners == names + names


def test_the_counselor_routed_to_longest_ago_goes_next(team_a, source):
    ana, ben, cy = (make_counselor(team_a, name) for name in ["ana", "ben", "cy"])
    now = timezone.now()
    for user, minutes_ago in [(ana, 1), (ben, 30), (cy, 5)]:
        User.objects.filter(pk=user.pk).update(
            last_routed_at=now - timedelta(minutes=minutes_ago)
        )

    owners = [intake(source, phone=f"+1305555010{n}").lead.owner for n in range(3)]

    assert owners == [ben, cy, ana]


def test_a_counselor_at_capacity_is_skipped_until_a_lead_closes(team_a, source):
    ana = make_counselor(team_a, "ana", max_open_leads=1)
    ben = make_counselor(team_a, "ben", max_open_leads=2)

    owners = [intake(source, phone=f"+1305555010{n}").lead.owner for n in range(4)]

    assert owners == [ana, ben, ben, None]
    first = Lead.objects.get(phone="+13055550100")
    close_as_lost(first, days_ago=0)
    assert intake(source, phone="+13055550109").lead.owner == ana


def test_a_turn_taken_after_waiting_for_the_lock_still_goes_to_the_back(team_a):
    # An intake that began early but waited for the counselors' locks holds an
    # older clock reading than the turns given meanwhile.
    ana, ben, cy = (make_counselor(team_a, name) for name in ["ana", "ben", "cy"])
    now = timezone.now()
    for user, minutes_ago in [(ana, 1), (ben, 2), (cy, 3)]:
        User.objects.filter(pk=user.pk).update(
            last_routed_at=now - timedelta(minutes=minutes_ago)
        )
    started_early = now - timedelta(minutes=10)

    turns = [
        counselor_take_turn(team=team_a, now=started_early + timedelta(seconds=n))
        for n in range(4)
    ]

    assert turns == [cy, ben, ana, cy]


def test_a_turn_skips_counselors_of_other_teams(team_a, team_b, counselor):
    make_counselor(team_b, "ben")

    assert counselor_take_turn(team=team_a) == counselor
    assert counselor_take_turn(team=team_a) == counselor


def test_a_turn_is_recorded_on_the_counselor(team_a, counselor):
    at = timezone.now()

    counselor_take_turn(team=team_a, now=at)

    counselor.refresh_from_db()
    assert counselor.last_routed_at == at


# --- Manual entry skips routing ------------------------------------------------------


def test_a_lead_entered_for_a_team_and_owner_is_theirs(team_b, other_counselor):
    result = lead_intake(
        channel=Channel.MANUAL,
        source=None,
        details={"phone": PHONE},
        team=team_b,
        owner=other_counselor,
    )

    assert (result.lead.team, result.lead.owner) == (team_b, other_counselor)
    other_counselor.refresh_from_db()
    assert other_counselor.last_routed_at is None


def test_consent_for_a_lead_without_a_phone_is_refused(source, counselor):
    with pytest.raises(ValidationError) as caught:
        intake(source, phone="", email="casey@example.org", sms_consent=consent())

    assert "sms_consent" in caught.value.message_dict
    assert not Lead.objects.exists()


def test_template_text_of_the_auto_reply_can_be_switched_off(source, counselor):
    notification_services.templates_ensure_defaults()
    MessageTemplate.objects.filter(key="web_auto_reply").update(is_active=False)

    lead = intake(source, sms_consent=consent()).lead

    assert not Message.objects.filter(lead=lead).exists()
    assert ConsentEvent.objects.filter(lead=lead).exists()
