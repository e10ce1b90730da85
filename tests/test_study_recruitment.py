"""Recruiting a study on Prolific, MTurk or with ?pid=: ids kept as a peppered hash, forged ids
refused, repeats refused per platform id, quotas (also under concurrent joins: run this file on
PostgreSQL too, `POSTGRES_TESTS`), pause/close/reopen, the completion and screened-out exits."""

import io
import threading
import urllib.parse

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from geogame.game.services import GameError
from geogame.studies import rules as study_rules
from geogame.studies import services as study_services
from geogame.studies.models import Participant, Study
from tests.test_study import answer, make_study, next_state, state

PROLIFIC = {
    "PROLIFIC_PID": "5f1e2d3c4b5a69788796a5b4",
    "STUDY_ID": "60aa11bb22cc33dd44ee55ff",
    "SESSION_ID": "s123",
}
MTURK = {
    "workerId": "A1B2C3D4E5F6G7",
    "assignmentId": "3AAAAAAAAAAAAAAAAAAAAAAAAA",
    "hitId": "3HHHHHHHHHHHHHHHHHHH",
}


def link(study, query=None):
    url = reverse("study-join", args=[study.link_token])
    return url + ("?" + urllib.parse.urlencode(query) if query else "")


def join_from(client, study, query, **fields):
    return client.post(link(study, query), {"consent": "yes", **fields})


def test_a_prolific_link_stores_a_peppered_hash_and_raw_ids_only_if_asked(study_map, settings):
    quiet = make_study(study_map)
    loud = make_study(study_map, name="Raw ids", seed=2, store_raw_platform_ids=True)
    assert join_from(Client(), quiet, PROLIFIC).status_code == 302
    assert join_from(Client(), loud, MTURK).status_code == 302
    p = Participant.objects.get(study=quiet)
    assert p.platform == "prolific" and p.platform_ids == {}
    assert len(p.platform_id_hash) == 64 and PROLIFIC["PROLIFIC_PID"] not in p.platform_id_hash
    assert p.platform_id_hash == study_rules.platform_id_hash(
        "prolific", PROLIFIC, settings.GEOGAME_STUDY_ID_PEPPER
    )
    assert p.platform_id_hash != study_rules.platform_id_hash("prolific", PROLIFIC, "another pepper")
    raw = Participant.objects.get(study=loud)
    assert raw.platform == "mturk" and raw.platform_ids == MTURK
    # The consent the person agreed to, by hash.
    import hashlib

    assert p.consent_sha256 == hashlib.sha256(quiet.consent_text.encode()).hexdigest()


@pytest.mark.parametrize(
    "query, words",
    [
        ({"PROLIFIC_PID": "not-an-id"}, "PROLIFIC_PID is not a valid id"),
        ({"PROLIFIC_PID": "5f1e2d3c4b5a69788796a5b4<script>"}, "PROLIFIC_PID is not a valid id"),
        ({"STUDY_ID": PROLIFIC["STUDY_ID"]}, "has no PROLIFIC_PID"),
        ({**PROLIFIC, "workerId": MTURK["workerId"]}, "more than one recruitment platform"),
        ({**MTURK, "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}, "preview"),
        ({"workerId": "lowercase"}, "workerId is not a valid id"),
        ({"pid": "x" * 65}, "pid is not a valid id"),
        ({"pid": ""}, "has no pid"),
    ],
)
def test_forged_or_malformed_platform_ids_are_refused_and_store_nothing(study_map, query, words):
    study = make_study(study_map)
    client = Client()
    page = client.get(link(study, query))
    assert page.status_code == 400 and words in page.content.decode()
    response = join_from(client, study, query)
    assert response.status_code == 400 and words in response.content.decode()
    assert not Participant.objects.exists()
    # The same browser may still join through a proper link.
    assert join_from(client, study, {"pid": "ok-123"}).status_code == 302


def test_a_platform_id_takes_part_once_even_from_another_browser(study_map):
    study = make_study(study_map)
    assert join_from(Client(), study, PROLIFIC).status_code == 302
    again = join_from(Client(), study, {**PROLIFIC, "PROLIFIC_PID": PROLIFIC["PROLIFIC_PID"].upper()})
    assert again.status_code == 409 and b"already taken part" in again.content
    assert Participant.objects.count() == 1
    other = make_study(study_map, name="Another", seed=2)
    assert join_from(Client(), other, PROLIFIC).status_code == 302  # another study is another matter
    assert join_from(Client(), study, {**PROLIFIC, "PROLIFIC_PID": "0" * 24}).status_code == 302


def test_quotas_on_participants_and_on_a_self_reported_group(study_map):
    study = make_study(
        study_map, name="Quota", screened_out_url="https://example.invalid/screened", max_participants=3,
        quotas={"familiarity": {"well": 1}},
    )  # fmt: skip
    assert join_from(Client(), study, {"pid": "a"}, q_familiarity="well").status_code == 302
    full_group = join_from(Client(), study, {"pid": "b"}, q_familiarity="well")
    assert full_group.status_code == 409 and b"from your group" in full_group.content
    assert b'href="https://example.invalid/screened"' in full_group.content
    assert join_from(Client(), study, {"pid": "c"}, q_familiarity="a little").status_code == 302
    assert join_from(Client(), study, {"pid": "d"}).status_code == 302
    full = join_from(Client(), study, {"pid": "e"})
    assert full.status_code == 409 and b"all the participants it needs" in full.content
    assert Participant.objects.filter(study=study).count() == 3


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"quotas": {"nope": {"x": 1}}}, "no such question"),
        ({"quotas": {"familiarity": {"expert": 1}}}, "not one of its choices"),
        ({"quotas": {"familiarity": {"well": -1}}}, "whole number"),
        ({"quotas": ["x"]}, "must be an object"),
        ({"completion_url": "javascript:alert(1)"}, "http(s) address"),
        ({"screened_out_url": "ftp://x.example/"}, "http(s) address"),
        ({"completion_code": "C0DE<b>"}, "completion code"),
        ({"max_participants": 0}, "maximum number of participants"),
    ],
)
def test_bad_recruitment_settings_are_refused(study_map, kw, words):
    with pytest.raises(GameError, match=words.replace("(", r"\(").replace(")", r"\)")):
        make_study(study_map, **kw)
    assert not Study.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_never_overfill_a_quota_nor_repeat_a_platform_id(study_map):
    """Threads joining at the same moment, each on its own database connection."""
    study = make_study(study_map, max_participants=3)
    twin = make_study(study_map, name="Twin", seed=2)
    joiners = 8
    barrier = threading.Barrier(joiners * 2)
    outcomes = []
    lock = threading.Lock()

    def join(target, pid):
        try:
            barrier.wait(timeout=30)
            study_services.participant_join(study=Study.objects.get(id=target), platform_query={"pid": pid})
            result = "joined"
        except GameError as exc:
            result = exc.status
        finally:
            connection.close()
        with lock:
            outcomes.append((target, result))

    threads = [threading.Thread(target=join, args=(study.id, f"p{i}")) for i in range(joiners)]
    threads += [threading.Thread(target=join, args=(twin.id, "same-person")) for _ in range(joiners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert Participant.objects.filter(study=study).count() == 3
    assert Participant.objects.filter(study=twin).count() == 1
    assert sorted(r for s, r in outcomes if s == study.id and r != "joined") == [409] * (joiners - 3)
    assert sorted(r for s, r in outcomes if s == twin.id and r != "joined") == [409] * (joiners - 1)


@pytest.fixture
def staff(db):
    User.objects.create_user("staff-r", password="pw-staff-r1", is_staff=True)
    client = Client()
    assert client.login(username="staff-r", password="pw-staff-r1")
    return client


def test_staff_pause_close_early_and_reopen_while_participants_finish(study_map, staff):
    study = make_study(study_map)
    client = Client()
    assert join_from(client, study, {"pid": "early"}).status_code == 302
    participant = Participant.objects.get()
    status_url = reverse("staff-study-status", args=[study.slug])
    assert Client().post(status_url, {"status": "paused"}).status_code == 302  # to the login
    assert Study.objects.get().status == "open"
    assert staff.post(status_url, {"status": "sleeping"}).status_code == 400
    assert staff.post(status_url, {"status": "paused"}).status_code == 302
    paused = Client().get(link(study))
    assert paused.status_code == 503 and b"paused" in paused.content
    # Who joined before goes on.
    assert answer(client, participant, state(client, participant)).status_code == 201
    assert staff.post(status_url, {"status": "closed"}).status_code == 302
    assert Client().post(link(study), {"consent": "yes"}).status_code == 410
    listing = staff.get(reverse("staff-studies")).content.decode()
    assert ">closed<" in listing
    out = io.StringIO()
    call_command("study_status", study.slug, "open", stdout=out)
    assert "open" in out.getvalue()
    assert join_from(Client(), study, {"pid": "late"}).status_code == 302
    with pytest.raises(CommandError):
        call_command("study_status", "no-such-study", "open")
    assert Participant.objects.count() == 2


def test_no_consent_exit_stores_nothing_and_points_back_to_the_platform(study_map):
    study = make_study(
        study_map, screened_out_url="https://app.prolific.com/submissions/complete?cc=NOCONSENT"
    )
    response = Client().post(link(study, PROLIFIC), {"consent": "no"})
    assert response.status_code == 200 and b"chose not to take part" in response.content
    assert b"cc=NOCONSENT" in response.content
    assert not Participant.objects.exists()


def test_a_finished_participant_gets_the_completion_code_and_link(study_map):
    url = "https://app.prolific.com/submissions/complete?cc=C1234"
    study = make_study(study_map, practice_count=0, test_count=2, completion_url=url, completion_code="C1234")
    client = Client()
    assert join_from(client, study, PROLIFIC).status_code == 302
    participant = Participant.objects.get()
    st = state(client, participant)
    for _ in range(2):
        assert answer(client, participant, st).status_code == 201
        st = next_state(client, participant)
    page = client.get(reverse("study-done", args=[participant.resume_token])).content.decode()
    assert (
        'id="completion-code">C1234<' in page
        and 'href="https://app.prolific.com/submissions/complete?cc=C1234"' in page
    )


def test_create_study_command_and_web_form_take_the_recruitment_settings_alike(study_map, staff, tmp_path):
    questions = tmp_path / "q.json"
    questions.write_text('[{"key": "home", "label": "Where do you live?", "choices": ["city", "country"]}]')
    call_command(
        "create_study", study_map.slug, "--name", "Cli", "--practice", "1", "--test", "2",
        "--questions-file", str(questions), "--quota", "home=city:5", "--max-participants", "40",
        "--completion-url", "https://example.invalid/done", "--completion-code", "ABC", "--store-raw-ids",
        stdout=io.StringIO(),
    )  # fmt: skip
    cli = Study.objects.get(slug="cli")
    assert cli.quotas == {"home": {"city": 5}} and cli.max_participants == 40 and cli.store_raw_platform_ids
    assert cli.questions[0]["key"] == "home" and cli.consent_text == study_services.DEFAULT_CONSENT
    for bad, words in (
        (["--quota", "home"], "QUESTION=CHOICE:N"),
        (["--quota", "home=village:3", "--questions-file", str(questions)], "not one of its choices"),
        (["--questions-file", str(tmp_path / "missing.json")], "cannot read the questions file"),
        (["--completion-url", "not a url"], "http(s) address"),
    ):
        with pytest.raises(CommandError, match=words.replace("(", r"\(").replace(")", r"\)")):
            call_command(
                "create_study", study_map.slug, "--name", "Bad", "--practice", "1", "--test", "2", *bad
            )
    form = staff.get(reverse("staff-studies")).content.decode()
    assert '<option value="city" selected>' in form  # the CLI's default mode
    assert "Purpose: [what the study is for]" in form  # the CLI's default consent text
    response = staff.post(
        reverse("staff-studies"),
        {"name": "Web", "map": study_map.slug, "practice_count": "1", "test_count": "2", "consent_text": "",
         "questions": questions.read_text(), "quotas": '{"home": {"city": 5}}', "max_participants": "40"},
    )  # fmt: skip
    assert response.status_code == 302
    web = Study.objects.get(slug="web")
    assert (web.mode, web.quotas, web.max_participants, web.consent_text) == (
        cli.mode, cli.quotas, cli.max_participants, cli.consent_text
    )  # fmt: skip
    bad = staff.post(reverse("staff-studies"), {"name": "Bad", "map": study_map.slug, "quotas": "{nope"})
    assert bad.status_code == 400 and b"valid JSON" in bad.content
    assert not Study.objects.filter(slug="bad").exists()
