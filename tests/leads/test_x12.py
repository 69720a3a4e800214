"""X12 270 writing and 271 reading (pure: no database).

Every 270 is parsed back with x12sdk, the maintained library, so the inquiry is
valid by its 005010X279A1 models and not only by our own reading.
"""

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from x12sdk.generate import generate_270, generate_835
from x12sdk.io import X12ModelReader

from leads.admissions.x12 import (
    DEFAULT_SERVICE_TYPES,
    LEVEL_OF_CARE_SOURCES,
    EligibilityInquiry,
    X12Error,
    build_270,
    npi_is_valid,
    parse_271,
)
from leads.models import CoveredLevel

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "x12"
NOW = datetime(2026, 3, 2, 9, 15)  # noqa: DTZ001 - an interchange's wall clock


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def edited(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


def inquiry(**changes) -> EligibilityInquiry:
    values = {
        "payer_name": "Example Health Plan",
        "payer_id": "EXHP1",
        "provider_name": "Example Recovery Center",
        "provider_npi": "1234567893",
        "subscriber_first_name": "Casey",
        "subscriber_last_name": "Doe",
        "member_id": "XYZ123456789",
        "date_of_birth": date(1990, 1, 2),
        "service_date": date(2026, 3, 2),
        "trace": "VOB1-TRACE",
        "group_number": "GRP100",
    }
    values.update(changes)
    return EligibilityInquiry(**values)


def build(value: EligibilityInquiry, control_number: int = 42) -> str:
    return build_270(
        value,
        sender_id="ADMISSIONSCRM",
        receiver_id="CLEARINGHOUSE",
        control_number=control_number,
        now=NOW,
    )


def read_back(text: str):
    with X12ModelReader(text) as reader:
        models = list(reader.models())
    assert len(models) == 1
    return models[0]


def segments(text: str) -> list[str]:
    return [part.strip() for part in text.split("~") if part.strip()]


# --- 270 ------------------------------------------------------------------------------


def test_270_for_a_subscriber_parses_back_with_the_x12_library():
    text = build(inquiry())

    model = read_back(text)

    assert model.header.st_segment.transaction_set_identifier_code == "270"
    assert model.header.st_segment.implementation_convention_reference == (
        "005010X279A1"
    )
    source = model.loop_2000a[0]
    assert source.hl_segment.hierarchical_level_code == "20"
    assert source.loop_2100a.nm1_segment.entity_identifier_code == "PR"
    assert source.loop_2100a.nm1_segment.identification_code == "EXHP1"
    receiver = source.loop_2000b[0]
    assert receiver.hl_segment.hierarchical_level_code == "21"
    assert receiver.loop_2100b.nm1_segment.entity_identifier_code == "1P"
    assert receiver.loop_2100b.nm1_segment.identification_code_qualifier == "XX"
    assert receiver.loop_2100b.nm1_segment.identification_code == "1234567893"
    subscriber = receiver.loop_2000c[0]
    assert subscriber.hl_segment.hierarchical_level_code == "22"
    assert subscriber.hl_segment.hierarchical_child_code == "0"
    assert subscriber.trn_segment[0].reference_identification_1 == "VOB1-TRACE"
    name = subscriber.loop_2100c
    assert name.nm1_segment.entity_identifier_code == "IL"
    assert name.nm1_segment.identification_code_qualifier == "MI"
    assert name.nm1_segment.identification_code == "XYZ123456789"
    assert (
        name.nm1_segment.name_last_or_organization_name,
        name.nm1_segment.name_first,
    ) == ("DOE", "CASEY")
    assert name.ref_segment[0].reference_identification_qualifier == "6P"
    assert name.ref_segment[0].reference_identification == "GRP100"
    assert name.dmg_segment.date_time_period == date(1990, 1, 2)
    assert name.dtp_segment.date_time_qualifier == "291"
    assert name.dtp_segment.date_time_period == date(2026, 3, 2)
    asked = [loop.eq_segment.service_type_code for loop in name.loop_2110c]
    assert asked == [[code] for code in DEFAULT_SERVICE_TYPES]
    assert not subscriber.loop_2000d
    # One EQ per substance-use service type, plus the plan.
    assert set(DEFAULT_SERVICE_TYPES) == {
        "AI", "AJ", "AK", "CI", "CJ", "MH", "BB", "RT", "30"
    }  # fmt: skip


def test_270_counts_and_control_numbers_agree_across_the_envelopes():
    text = build(inquiry(), control_number=1234)

    parts = segments(text)
    names = [part.split("*")[0] for part in parts]
    assert (names[0], names[-1]) == ("ISA", "IEA")
    isa = parts[0].split("*")
    assert isa[13] == "000001234"
    assert isa[15] == "T"
    st, se = names.index("ST"), names.index("SE")
    se_elements = parts[se].split("*")
    assert se_elements[1] == str(se - st + 1)
    assert se_elements[2] == parts[st].split("*")[2] == "1234"
    gs, ge = parts[1].split("*"), parts[-2].split("*")
    assert (gs[1], gs[8]) == ("HS", "005010X279A1")
    assert ge == ["GE", "1", gs[6]]
    assert parts[-1].split("*") == ["IEA", "1", "000001234"]
    # The library agrees with the count: its model validates SE on parsing.
    assert read_back(text).footer.se_segment.transaction_segment_count == se - st + 1


def test_270_for_a_dependent_asks_at_hl_23_under_the_subscriber():
    text = build(
        inquiry(
            date_of_birth=None,
            dependent_first_name="Avery",
            dependent_last_name="Lañe",
            dependent_date_of_birth=date(2008, 3, 15),
            dependent_relationship="child",
        )
    )

    model = read_back(text)

    subscriber = model.loop_2000a[0].loop_2000b[0].loop_2000c[0]
    assert subscriber.hl_segment.hierarchical_child_code == "1"
    # The member id stays the subscriber's; questions and trace move down.
    assert subscriber.loop_2100c.nm1_segment.identification_code == "XYZ123456789"
    assert not subscriber.loop_2100c.loop_2110c
    assert not subscriber.trn_segment
    dependent = subscriber.loop_2000d[0]
    assert dependent.hl_segment.hierarchical_level_code == "23"
    assert dependent.hl_segment.hierarchical_parent_id_number == (
        subscriber.hl_segment.hierarchical_id_number
    )
    assert dependent.trn_segment[0].reference_identification_1 == "VOB1-TRACE"
    name = dependent.loop_2100d
    assert name.nm1_segment.entity_identifier_code == "03"
    assert name.nm1_segment.name_last_or_organization_name == "LANE"
    assert name.dmg_segment.date_time_period == date(2008, 3, 15)
    assert name.ins_segment.individual_relationship_code == "19"
    assert [loop.eq_segment.service_type_code[0] for loop in name.loop_2110d] == list(
        DEFAULT_SERVICE_TYPES
    )
    member = next(model.members())
    assert member.is_dependent


def test_270_keeps_delimiters_out_of_names():
    text = build(inquiry(subscriber_last_name="O'Neil*Smith~", payer_name="A^B:C"))

    assert "NM1*IL*1*O'NEIL SMITH*CASEY****MI*XYZ123456789~" in text
    assert "NM1*PR*2*A B C*****PI*EXHP1~" in text
    read_back(text)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"provider_npi": "1234567890"}, "NPI"),
        ({"member_id": ""}, "member_id"),
        ({"member_id": "ABC*123"}, "member_id"),
        ({"date_of_birth": None}, "DOB"),
        ({"service_types": ()}, "service type"),
        ({"dependent_last_name": "Lane", "dependent_first_name": "Avery"}, "dependent"),
    ],
)
def test_270_refuses_an_inquiry_it_cannot_send(changes, message):
    with pytest.raises(ValueError, match=message):
        build(inquiry(**changes))


def test_npi_check_digit():
    assert npi_is_valid("1234567893")
    assert not npi_is_valid("1234567890")
    assert not npi_is_valid("123456789")
    assert not npi_is_valid("12345678AB")


def test_inquiry_repr_leaves_out_the_member_id_and_birth_date():
    text = repr(inquiry())

    assert "XYZ123456789" not in text
    assert "1990" not in text


# --- 271 ------------------------------------------------------------------------------


def test_active_in_network_271_with_deductible_remaining():
    result = parse_271(fixture("active_in_network.271"))

    assert result.trace == "VOB1-ACTIVE01"
    assert (result.payer_name, result.payer_id) == ("EXAMPLE HEALTH PLAN", "EXHP1")
    assert result.subscriber.member_id == "XYZ123456789"
    assert (result.subscriber.first_name, result.subscriber.last_name) == (
        "CASEY",
        "DOE",
    )
    assert result.dependent is None
    assert (result.group_number, result.group_name) == (
        "GRP100",
        "EXAMPLE EMPLOYER GROUP",
    )
    assert result.plan_description == "GOLD PPO"
    assert (result.coverage_begins, result.coverage_ends) == (
        date(2026, 1, 1),
        date(2026, 12, 31),
    )
    assert result.coverage_active == "yes"
    assert result.network_status == "in"
    deductible = result.deductible
    assert deductible.individual.in_network == Decimal("1500")
    assert deductible.individual_remaining.in_network == Decimal("1200")
    assert deductible.family.in_network == Decimal("3000")
    assert deductible.family_remaining.in_network == Decimal("2600")
    assert deductible.individual.out_of_network == Decimal("3000")
    oop = result.out_of_pocket
    assert oop.individual.in_network == Decimal("5000")
    assert oop.individual_remaining.in_network == Decimal("4100")
    assert oop.family.in_network == Decimal("10000")
    assert oop.individual.out_of_network == Decimal("10000")
    assert result.coinsurance_percent.in_network == Decimal("20")
    assert result.coinsurance_percent.out_of_network == Decimal("40")
    assert result.rejections == ()
    assert "COPAY APPLIES PER OUTPATIENT VISIT" in result.messages

    levels = result.level_benefits()
    assert levels["detox"].covered == "yes"
    assert levels["detox"].service_type == "CI"
    assert levels["detox"].prior_auth_required == "yes"
    assert levels["detox"].in_network == "yes"
    assert levels["iop"].covered == "yes"
    assert levels["iop"].copay == Decimal("40")


def test_inactive_coverage_271():
    result = parse_271(fixture("inactive.271"))

    assert result.coverage_active == "no"
    assert result.plan.coverage == "inactive"
    assert result.coverage_ends == date(2025, 12, 31)
    assert result.messages == ("COVERAGE TERMINATED 12/31/2025",)
    assert {level.covered for level in result.level_benefits().values()} == {"no"}


def test_out_of_network_271_with_auth_required_and_day_limits():
    result = parse_271(fixture("out_of_network_auth.271"))

    assert result.coverage_active == "yes"
    assert result.network_status == "out"
    assert result.deductible.individual.out_of_network == Decimal("6000")
    assert result.deductible.individual.in_network is None
    assert result.out_of_pocket.individual_remaining.out_of_network == Decimal("11500")
    assert result.coinsurance_percent.out_of_network == Decimal("50")
    residential = result.benefit("RT")
    assert residential.coverage == "active"
    assert residential.auth_required == "yes"
    assert residential.in_network == "no"
    assert residential.day_limit.out_of_network == Decimal("30")
    assert residential.days_remaining.out_of_network == Decimal("22")

    levels = result.level_benefits()
    assert levels["residential"].service_type == "RT"
    assert levels["residential"].prior_auth_required == "yes"
    assert levels["residential"].in_network == "no"
    assert levels["residential"].day_limit == 30
    assert "22 days remaining" in levels["residential"].notes
    assert levels["detox"].day_limit == 30
    # The visit limit is for outpatient care (III place of service 57).
    assert levels["iop"].visit_limit == 20
    assert levels["detox"].visit_limit is None


def test_contact_other_entity_carries_its_name_and_phone():
    result = parse_271(fixture("out_of_network_auth.271"))

    mental_health = result.benefit("MH")
    assert mental_health.contact_other_entity
    # "Contact someone else" is not an answer on coverage.
    assert mental_health.coverage == "unknown"
    contact = mental_health.contacts[0]
    assert contact.entity_code == "X3"
    assert contact.name == "EXAMPLE BEHAVIORAL HEALTH"
    assert contact.phone == "(800) 555-0123"
    assert "utilization management" in str(contact)
    assert "EXAMPLE BEHAVIORAL HEALTH" in result.level_benefits()["residential"].notes


def test_aaa_rejection_is_reported_with_its_reason():
    result = parse_271(fixture("aaa_rejection.271"))

    assert len(result.rejections) == 1
    rejection = result.rejections[0]
    assert (rejection.code, rejection.where) == ("72", "subscriber")
    assert rejection.message == "member id invalid or missing"
    assert rejection.follow_up == "correct and resubmit"
    assert result.coverage_active == "unknown"
    assert result.benefits == {}


def test_aaa_at_the_payer_level_without_a_subscriber():
    text = fixture("aaa_rejection.271")
    body = [
        "ST*271*0104*005010X279A1",
        "BHT*0022*11*RESP104*20260302*0915",
        "HL*1**20*0",
        "AAA*Y**42*R",
        "NM1*PR*2*EXAMPLE HEALTH PLAN*****PI*EXHP1",
    ]
    head = segments(text)[:2]
    parts = [*head, *body, f"SE*{len(body) + 1}*0104", "GE*1*104", "IEA*1*000000104"]

    result = parse_271("~".join(parts) + "~")

    assert [(r.code, r.where) for r in result.rejections] == [("42", "payer")]
    assert result.rejections[0].message == "the payer cannot respond right now"
    assert result.subscriber is None


def test_several_lines_for_one_service_type_merge_by_level_and_network():
    result = parse_271(fixture("dependent_merge.271"))

    substance = result.benefits["AI"]
    assert substance.deductible.individual.in_network == Decimal("500")
    assert substance.deductible.individual_remaining.in_network == Decimal("250")
    assert substance.deductible.family.in_network == Decimal("1000")
    # Family met 400 of 1,000 (EB06 24): 600 remains.
    assert substance.deductible.family_remaining.in_network == Decimal("600")
    assert substance.deductible.individual.out_of_network == Decimal("1000")
    assert substance.deductible.individual_remaining.out_of_network == Decimal("900")
    # An out-of-pocket line with no network applies to both, unless one is stated.
    assert substance.out_of_pocket.individual.in_network == Decimal("4000")
    assert substance.out_of_pocket.individual.out_of_network == Decimal("8000")
    assert substance.coinsurance_percent.in_network == Decimal("10")
    assert substance.coinsurance_percent.out_of_network == Decimal("30")
    assert substance.copay.in_network == substance.copay.out_of_network == 25


def test_dependent_271_reads_the_dependent_as_the_patient():
    result = parse_271(fixture("dependent_merge.271"))

    assert result.trace == "VOB5-DEPENDENT01"
    assert result.dependent.last_name == "LANE"
    assert result.dependent.first_name == "AVERY"
    assert result.dependent.date_of_birth == date(2008, 3, 15)
    assert result.subscriber.member_id == "DEP100200300"
    assert result.patient is result.dependent
    assert result.group_number == "GRP500"


def test_a_service_type_without_a_line_is_unknown_not_not_covered():
    result = parse_271(fixture("active_in_network.271"))

    assert "BB" not in result.benefits
    assert result.benefit("BB").coverage == "unknown"
    assert not result.benefit("BB").answered
    php = result.level_benefits()["php"]
    assert php.covered == "unknown"
    assert php.prior_auth_required == "unknown"


def test_non_covered_line_marks_the_service_not_covered():
    text = edited(
        fixture("active_in_network.271"),
        "EB*B*IND*CJ***27*40*****Y~\nMSG*COPAY APPLIES PER OUTPATIENT VISIT~",
        "EB*I**BB~\nMSG*PARTIAL HOSPITALIZATION EXCLUDED~",
    )

    result = parse_271(text)

    assert result.benefit("BB").coverage == "not_covered"
    assert result.level_benefits()["php"].covered == "no"


def test_271_generated_by_x12sdk_is_read():
    # x12sdk-generate 271 --seed 7 --members 1 --dependent-rate 1 (ST03 without A1)
    result = parse_271(fixture("x12sdk_generated_dependent.271"))

    assert result.dependent is not None
    assert result.subscriber.member_id
    assert result.coverage_active == "yes"


def test_level_of_care_table_covers_the_apps_levels():
    assert set(LEVEL_OF_CARE_SOURCES) == set(CoveredLevel.values)


# --- Malformed files ------------------------------------------------------------------


def test_not_an_x12_file():
    with pytest.raises(X12Error, match="^not an X12 file"):
        parse_271('{"eligibility": "active"}')
    with pytest.raises(X12Error, match="^not an X12 file"):
        parse_271("")


def test_wrong_transaction_is_named():
    with pytest.raises(X12Error, match="^expected a 271 transaction, got 835$"):
        parse_271(generate_835(seed=1, claims=1))
    with pytest.raises(X12Error, match="^expected a 271 transaction, got 270$"):
        parse_271(generate_270(seed=1, members=1))


def test_bad_segment_count_in_se():
    text = edited(fixture("active_in_network.271"), "SE*34*0101", "SE*30*0101")

    with pytest.raises(X12Error, match="^segment count in SE does not match"):
        parse_271(text)


def test_truncated_file():
    text = fixture("active_in_network.271")

    with pytest.raises(X12Error, match="^truncated: no IEA"):
        parse_271(text[: len(text) // 2])
    with pytest.raises(X12Error, match="^truncated"):
        parse_271(text[:60])


def test_a_number_that_is_not_one():
    text = edited(fixture("active_in_network.271"), "*1500*", "*15O0*")

    with pytest.raises(X12Error, match=r"EB at segment \d+: the amount"):
        parse_271(text)


def test_hl_naming_a_parent_that_is_not_there():
    text = edited(fixture("active_in_network.271"), "HL*3*2*22*0", "HL*3*9*22*0")

    with pytest.raises(X12Error, match="names a parent"):
        parse_271(text)
