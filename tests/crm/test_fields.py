"""Insurance member id and date of birth are encrypted at rest, and keys rotate."""

from datetime import date

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection

from leads.models import Lead
from leads.services import lead_update
from tests.factories import make_lead

pytestmark = pytest.mark.django_db

MEMBER_ID = "W123456789"
BIRTHDAY = date(1987, 11, 23)


def _new_key() -> str:
    return Fernet.generate_key().decode()


def _stored(lead: Lead) -> tuple[str | None, str | None]:
    """What the database holds, read past the model fields."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT insurance_member_id, date_of_birth FROM leads_lead WHERE id = %s",
            [lead.pk],
        )
        return cursor.fetchone()


def test_member_id_and_birth_date_read_back_as_written(team_a):
    lead = make_lead(team=team_a, insurance_member_id=MEMBER_ID, date_of_birth=BIRTHDAY)

    reread = Lead.objects.get(pk=lead.pk)

    assert reread.insurance_member_id == MEMBER_ID
    assert reread.date_of_birth == BIRTHDAY


def test_member_id_and_birth_date_are_stored_encrypted(team_a):
    lead = make_lead(team=team_a, insurance_member_id=MEMBER_ID, date_of_birth=BIRTHDAY)

    member_id, birth_date = _stored(lead)

    assert member_id.startswith("fernet:")
    assert MEMBER_ID not in member_id
    assert birth_date.startswith("fernet:")
    assert "1987" not in birth_date
    assert BIRTHDAY.isoformat() not in birth_date


def test_values_changed_by_an_edit_are_stored_encrypted_too(team_a, counselor):
    lead = make_lead(team=team_a)

    lead_update(
        lead=lead,
        by=counselor,
        data={"insurance_member_id": "H555000111", "date_of_birth": BIRTHDAY},
    )

    member_id, birth_date = _stored(lead)
    assert member_id.startswith("fernet:")
    assert "H555000111" not in member_id
    assert birth_date.startswith("fernet:")
    assert BIRTHDAY.isoformat() not in birth_date
    assert Lead.objects.get(pk=lead.pk).insurance_member_id == "H555000111"


def test_same_member_id_on_two_leads_is_not_recognisable_in_the_database(team_a):
    first = make_lead(team=team_a, insurance_member_id=MEMBER_ID)
    second = make_lead(team=team_a, insurance_member_id=MEMBER_ID)

    assert _stored(first)[0] != _stored(second)[0]


def test_missing_values_stay_empty_rather_than_encrypted(team_a):
    lead = make_lead(team=team_a)

    assert _stored(lead) == ("", None)
    reread = Lead.objects.get(pk=lead.pk)
    assert (reread.insurance_member_id, reread.date_of_birth) == ("", None)


def test_malformed_birth_date_is_a_field_error_not_a_crash(team_a, counselor):
    lead = make_lead(team=team_a, date_of_birth=BIRTHDAY)

    with pytest.raises(ValidationError) as refusal:
        lead_update(lead=lead, by=counselor, data={"date_of_birth": "23/11/1987"})

    assert "date_of_birth" in refusal.value.message_dict
    assert Lead.objects.get(pk=lead.pk).date_of_birth == BIRTHDAY


def test_values_written_under_the_old_key_still_read_after_rotation(
    settings, team_a, counselor
):
    old_key, new_key = _new_key(), _new_key()
    settings.FIELD_ENCRYPTION_KEY = old_key
    old = make_lead(team=team_a, insurance_member_id=MEMBER_ID, date_of_birth=BIRTHDAY)

    settings.FIELD_ENCRYPTION_KEY = f"{new_key},{old_key}"
    reread = Lead.objects.get(pk=old.pk)
    fresh = make_lead(team=team_a, insurance_member_id="U777", date_of_birth=BIRTHDAY)

    assert (reread.insurance_member_id, reread.date_of_birth) == (MEMBER_ID, BIRTHDAY)
    # Once the old key is retired, what was written after rotation still reads.
    settings.FIELD_ENCRYPTION_KEY = new_key
    assert Lead.objects.get(pk=fresh.pk).insurance_member_id == "U777"
    assert Lead.objects.get(pk=fresh.pk).date_of_birth == BIRTHDAY


def test_reading_with_the_wrong_key_fails_loudly(settings, team_a):
    settings.FIELD_ENCRYPTION_KEY = _new_key()
    lead = make_lead(team=team_a, insurance_member_id=MEMBER_ID)

    settings.FIELD_ENCRYPTION_KEY = _new_key()

    with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEY"):
        Lead.objects.get(pk=lead.pk)


def test_birth_date_under_the_wrong_key_fails_loudly(settings, team_a):
    settings.FIELD_ENCRYPTION_KEY = _new_key()
    lead = make_lead(team=team_a, date_of_birth=BIRTHDAY)

    settings.FIELD_ENCRYPTION_KEY = _new_key()

    with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEY"):
        Lead.objects.get(pk=lead.pk)


def test_a_malformed_key_is_a_configuration_error(settings, team_a):
    settings.FIELD_ENCRYPTION_KEY = "not-a-fernet-key"

    with pytest.raises(ImproperlyConfigured):
        make_lead(team=team_a, insurance_member_id=MEMBER_ID)

    assert not Lead.objects.exists()
