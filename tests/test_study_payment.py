"""Paying a study's participants: the performance bonus rule (points to money, exact decimals), the
platforms' bulk bonus formats (Prolific, MTurk) and the approve/reject lists, audited like every
export; pilots, excluded and unfinished participants are never paid by them."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from geogame.game.models import Round
from geogame.game.services import GameError
from geogame.maps.rules import city_label
from geogame.studies import rules as study_rules
from geogame.studies.models import Participant, Study
from tests.test_study import make_study, next_state, post_json, state

PROLIFIC_A = "?PROLIFIC_PID=5f1e2d3c4b5a69788796a5b4&STUDY_ID=60aa11bb22cc33dd44ee55ff&SESSION_ID=s1"
PROLIFIC_B = "?PROLIFIC_PID=6a6a6a6a6a6a6a6a6a6a6a6a&STUDY_ID=60aa11bb22cc33dd44ee55ff&SESSION_ID=s2"
MTURK = "?workerId=A1B2C3D4E5F6G7&assignmentId=3AAAAAAAAAAAAAAAAAAAAAAAAA&hitId=3HHHHHHHHHHHHHHHHHHH"
CATCH_REASON = study_rules.REJECT_RULES["max_failed_catch_trials"]


# -- The rule, as plain functions ------------------------------------------------------------------------


def test_the_bonus_is_exact_decimal_money_rounded_down_to_the_cent_and_capped():
    # A float gets this wrong: 1000 points at 0.29 per 1000 truncated to cents is 0.28 in binary.
    assert int(1000 * 0.29 / 1000 * 100) / 100 == 0.28
    assert study_rules.bonus_amount(1000, "0.29") == Decimal("0.29")
    assert study_rules.bonus_amount(12345, Decimal("0.10")) == Decimal("1.23")
    assert study_rules.bonus_amount(3, Decimal("0.10")) == Decimal("0.00")
    assert study_rules.bonus_amount(49999, "0.1", "2.00") == Decimal("2.00")
    assert study_rules.bonus_amount(19999, "0.1", "2.00") == Decimal("1.99")
    assert isinstance(study_rules.bonus_amount(7, "1"), Decimal)
    for points in (-1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="points must be a whole number"):
            study_rules.bonus_amount(points, "0.1")


def test_a_bonus_rule_is_checked_and_bad_ones_say_what_is_wrong():
    assert study_rules.check_bonus_rule("0.10", "2", "gbp") == (Decimal("0.10"), Decimal("2"), "GBP")
    assert study_rules.check_bonus_rule("0.5", None, "USD") == (Decimal("0.5"), None, "USD")
    assert study_rules.check_bonus_rule(None, None, "") == (None, None, "")
    for rate, cap, currency, words in [
        (0.1, None, "GBP", "written as text"),
        ("abc", None, "GBP", "decimal number"),
        ("NaN", None, "GBP", "decimal number"),
        ("Infinity", None, "GBP", "decimal number"),
        ("0", None, "GBP", "above 0"),
        ("-1", None, "GBP", "above 0"),
        ("1001", None, "GBP", "at most 1000"),
        ("0.12345", None, "GBP", "at most 4 decimals"),
        ("0.1", "0.001", "GBP", "bonus cap"),
        ("0.1", "-2", "GBP", "bonus cap"),
        ("0.1", None, "", "three-letter"),
        ("0.1", None, "POUNDS", "three-letter"),
        (None, "2", "GBP", "cap needs a bonus rate"),
    ]:
        with pytest.raises(ValueError, match=words):
            study_rules.check_bonus_rule(rate, cap, currency)


def test_approve_the_finished_who_pass_reject_who_failed_the_catch_trials_and_leave_the_rest():
    verdict = study_rules.payment_verdict
    assert verdict(finished=True, excluded_by=[]) == ("approve", "")
    assert verdict(finished=True, excluded_by=["max_failed_catch_trials"]) == ("reject", CATCH_REASON)
    assert verdict(finished=False, excluded_by=["unfinished", "max_failed_catch_trials"])[0] == "reject"
    assert verdict(finished=True, excluded_by=["min_median_time_s"]) == ("", "")
    assert verdict(finished=False, excluded_by=["unfinished"]) == ("", "")


# -- The exports ------------------------------------------------------------------------------------------


def take_part(study, query, *, fail_catch=False, finish=True, client=None):
    """Join from `query` and answer: every location's true city, the catch trials as instructed
    (or not, with fail_catch); stop after the first trial unless `finish`."""
    client = client or Client()
    assert (
        client.post(reverse("study-join", args=[study.link_token]) + query, {"consent": "yes"}).status_code
        == 302
    )
    participant = Participant.objects.order_by("-id").first()
    st = state(client, participant)
    for _ in range(participant.game.rounds_total if finish else 1):
        match = re.search(r"pick \u201c(.+)\u201d", st["round"].get("prompt") or "")
        if match:
            pick = next(c for c in st["candidates"] if c != match[1]) if fail_catch else match[1]
        else:
            loc = Round.objects.get(game=participant.game, index=st["round"]["index"]).location
            pick = city_label(loc.city, loc.country)
        assert post_json(client, st["round"]["guess_url"], {"city": pick}).status_code == 201
        st = next_state(client, participant)
    return participant


def export(client, study, fmt, status=200):
    response = client.get(reverse("staff-study-export", args=[study.slug, fmt]))
    assert response.status_code == status, (fmt, response.content[:300])
    return response.content.decode()


def expected_bonus(staff_client, study, participant):
    """Recomputed from the answers export: the participant's test points (no practice, no catch)."""
    rows = csv.DictReader(io.StringIO(export(staff_client, study, "csv")))
    points = sum(
        int(r["points"])
        for r in rows
        if r["participant"] == str(participant.public_id)
        and r["phase"] == "test"
        and r["catch_trial"] == "False"
    )
    return points, f"{study_rules.bonus_amount(points, study.bonus_rate, study.bonus_cap):.2f}"


def test_bonus_and_approve_reject_exports_pay_only_the_finished_who_pass_in_each_platforms_format(
    study_map, staff_client
):
    study = make_study(
        study_map,
        practice_count=1,
        test_count=3,
        catch_count=1,
        exclusion_rules={"max_failed_catch_trials": 0},
        store_raw_platform_ids=True,
        bonus_rate="0.29",
        bonus_cap="4.00",
        bonus_currency="GBP",
    )
    good = take_part(study, PROLIFIC_A)
    careless = take_part(study, PROLIFIC_B, fail_catch=True)
    worker = take_part(study, MTURK)
    take_part(study, "?pid=halfway", finish=False)
    take_part(study, "?pilot=1", client=staff_client)  # a staff pilot run: never paid, never listed

    points, amount = expected_bonus(staff_client, study, good)
    assert points > 0 and Decimal(amount) > 0
    assert export(staff_client, study, "bonus-prolific.csv") == f"5f1e2d3c4b5a69788796a5b4,{amount}\r\n"
    mturk = list(csv.reader(io.StringIO(export(staff_client, study, "bonus-mturk.csv"))))
    w_points, w_amount = expected_bonus(staff_client, study, worker)
    assert mturk == [
        ["workerId", "assignmentId", "bonus", "reason"],
        [
            "A1B2C3D4E5F6G7",
            "3AAAAAAAAAAAAAAAAAAAAAAAAA",
            w_amount,
            f"Performance bonus: {w_points} points in Cities study",
        ],
    ]

    approve = list(csv.DictReader(io.StringIO(export(staff_client, study, "approve.csv"))))
    assert [(r["participant"], r["platform"], r["platform_id"]) for r in approve] == [
        (str(good.public_id), "prolific", "5f1e2d3c4b5a69788796a5b4"),
        (str(worker.public_id), "mturk", "A1B2C3D4E5F6G7"),
    ]
    assert approve[0]["bonus"] == amount and approve[1]["assignment_id"] == "3AAAAAAAAAAAAAAAAAAAAAAAAA"
    reject = list(csv.DictReader(io.StringIO(export(staff_client, study, "reject.csv"))))
    assert [(r["participant"], r["platform_id"], r["reason"]) for r in reject] == [
        (str(careless.public_id), "6a6a6a6a6a6a6a6a6a6a6a6a", CATCH_REASON)
    ]
    audited = set(study.audit_events.values_list("detail", flat=True))
    assert {"bonus-prolific.csv", "bonus-mturk.csv", "approve.csv", "reject.csv"} <= audited
    page = staff_client.get(reverse("staff-study", args=[study.slug])).content.decode()
    assert 'id="export-bonus-prolific"' in page and "0.29 GBP per 1000 test points, at most 4.00 GBP" in page


def test_a_study_with_hashed_ids_only_or_no_bonus_rule_exports_no_bonus_and_says_why(study_map, staff_client):
    hashed = make_study(study_map, practice_count=0, test_count=2, bonus_rate="0.10", bonus_currency="GBP")
    take_part(hashed, PROLIFIC_A)
    refused = export(staff_client, hashed, "bonus-prolific.csv", status=409)
    assert "only hashed" in refused and "docs/study.md" in refused
    approve = list(csv.DictReader(io.StringIO(export(staff_client, hashed, "approve.csv"))))
    assert len(approve) == 1 and approve[0]["platform"] == "prolific" and approve[0]["platform_id"] == ""
    unpaid = make_study(
        study_map, name="No bonus", practice_count=0, test_count=2, store_raw_platform_ids=True
    )
    assert "no bonus rule" in export(staff_client, unpaid, "bonus-mturk.csv", status=409)
    assert not hashed.audit_events.filter(detail="bonus-prolific.csv").exists()  # nothing went out


def test_the_bonus_rule_is_set_from_the_command_and_the_form_and_bad_ones_create_nothing(
    study_map, staff_client
):
    cli = ["create_study", study_map.slug, "--practice", "1", "--test", "3"]
    call_command(*cli, "--name", "Cli", "--bonus-rate", "0.10", "--bonus-cap", "2", "--bonus-currency", "gbp",
                 stdout=io.StringIO())  # fmt: skip
    study = Study.objects.get(slug="cli")
    assert (study.bonus_rate, study.bonus_cap, study.bonus_currency) == (Decimal("0.1"), Decimal("2"), "GBP")
    for extra, words in [
        (["--bonus-rate", "abc", "--bonus-currency", "GBP"], "decimal number"),
        (["--bonus-rate", "0.1"], "three-letter"),
        (["--bonus-cap", "2"], "needs a bonus rate"),
    ]:
        with pytest.raises(CommandError, match=words):
            call_command(*cli, "--name", "Bad", *extra)
    with pytest.raises(GameError, match="above 0"):
        make_study(study_map, name="Bad", bonus_rate="-0.5", bonus_currency="GBP")

    form = {"name": "Web", "map": study_map.slug, "practice_count": "1", "test_count": "3"}
    ok = staff_client.post(
        reverse("staff-studies"), {**form, "bonus_rate": "0.25", "bonus_cap": "5.50", "bonus_currency": "USD"}
    )
    assert ok.status_code == 302
    web = Study.objects.get(slug="web")
    assert (web.bonus_rate, web.bonus_cap, web.bonus_currency) == (Decimal("0.25"), Decimal("5.50"), "USD")
    bad = staff_client.post(
        reverse("staff-studies"), {**form, "name": "Bad", "bonus_rate": "1e9", "bonus_currency": "USD"}
    )
    assert bad.status_code == 400 and b"at most 1000" in bad.content
    assert not Study.objects.filter(slug="bad").exists()
