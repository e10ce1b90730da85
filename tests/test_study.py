"""The human-baseline study through its HTTP endpoints (Django's test client): joining by link,
trials, hidden answers, leaving and resuming, withdrawal, staff progress and export, bad input."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from geopy.distance import great_circle

from geogame.game.models import Guess, Round
from geogame.maps.importer import map_refresh_city_centres
from geogame.maps.models import Location
from geogame.maps.rules import city_label
from geogame.studies import services as study_services
from geogame.studies.models import Participant, Study


def make_study(m, **kw):
    options = dict(name="Cities study", consent_text="You agree.", practice_count=2, test_count=4, seed=1)
    options.update(kw)
    return study_services.study_create(map=m, **options)


def join(client, study, **fields):
    response = client.post(reverse("study-join", args=[study.link_token]), {"consent": "yes", **fields})
    assert response.status_code == 302, response.content
    participant = Participant.objects.order_by("-id").first()
    assert response["Location"] == reverse("study-play", args=[participant.resume_token])
    return participant


def state(client, participant):
    response = client.get(reverse("api-study-state", args=[participant.resume_token]))
    assert response.status_code == 200, response.content
    return response.json()


def post_json(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def trial_location(participant, index):
    return Round.objects.get(game=participant.game, index=index).location


def answer(client, participant, st, city=None, **extra):
    """Answer the state's trial with `city` (default: the first candidate)."""
    body = {"city": city or st["candidates"][0], "view_ms": [500] * len(st["round"]["views"]), **extra}
    return post_json(client, st["round"]["guess_url"], body)


def next_state(client, participant):
    """The next trial; after the practice, through the page that starts the test."""
    response = client.post(reverse("api-study-next", args=[participant.resume_token]))
    if response.status_code == 409 and "start the test" in response.json()["error"]:
        started = client.post(reverse("study-test-start", args=[participant.resume_token]))
        assert started.status_code == 302, started.content
        return state(client, participant)
    assert response.status_code == 200, response.content
    return response.json()


def play_all(client, participant, pick=None):
    """Answer every trial; `pick(location)` chooses the city (default: the first candidate)."""
    st = state(client, participant)
    for _ in range(participant.game.rounds_total):
        loc = trial_location(participant, st["round"]["index"])
        response = answer(client, participant, st, city=pick(loc) if pick else None)
        assert response.status_code == 201, response.content
        st = next_state(client, participant)
    return st


def test_everyone_gets_the_studys_locations_practice_first_and_never_one_twice(study_map):
    study = make_study(study_map)
    assert len(study.practice_ids) == 2 and len(study.test_ids) == 4
    test_split = set(Location.objects.filter(map=study_map, split="test").values_list("id", flat=True))
    assert set(study.practice_ids + study.test_ids) <= test_split

    for _ in range(3):
        client = Client()
        participant = join(client, study)
        st = play_all(client, participant)
        assert st["finished"]
        seen = list(participant.game.rounds.order_by("index").values_list("location_id", flat=True))
        assert sorted(seen[:2]) == sorted(study.practice_ids)
        assert sorted(seen[2:]) == sorted(study.test_ids)
        assert len(set(seen)) == len(seen) == 6
        participant.refresh_from_db()
        assert participant.finished_at is not None


def test_answers_are_shown_after_practice_and_hidden_after_test(study_map):
    study = make_study(study_map)
    client = Client()
    participant = join(client, study)
    st = state(client, participant)
    assert st["round"]["phase"] == "practice" and st["round"]["label"] == "Practice 1 / 2"
    assert st["total_points"] is None and st["result"] is None

    for k in range(2):  # practice: the answer comes back
        loc = trial_location(participant, k)
        body = answer(client, participant, st).json()
        assert body["result"]["answer"]["city"] == loc.city
        st = next_state(client, participant)

    assert st["round"]["phase"] == "test" and st["round"]["label"] == "Test 1 / 4"
    loc = trial_location(participant, 2)
    response = answer(client, participant, st, city=city_label(loc.city, loc.country))
    assert response.status_code == 201
    for body in (response.json(), state(client, participant)):
        assert body["result"] == {"round": 2, "hidden": True, "timed_out": False}
        text = json.dumps({k: v for k, v in body.items() if k != "candidates"})  # every city is one
        assert loc.city not in text and f"{loc.lat:.3f}" not in text
        assert body["total_points"] is None
    # It was stored, scored and right all the same.
    guess = Guess.objects.get(round__game=participant.game, round__index=2)
    assert guess.correct is True and guess.points == 5000


def test_a_test_trial_that_timed_out_is_recorded_without_showing_the_answer(study_map):
    study = make_study(study_map, time_limit_s=30, practice_count=0)
    client = Client()
    participant = join(client, study)
    st = state(client, participant)
    rnd = Round.objects.get(game=participant.game, index=0)
    past = timezone.now() - timedelta(minutes=5)
    Round.objects.filter(id=rnd.id).update(started_at=past, deadline=past + timedelta(seconds=30))
    response = answer(client, participant, st)
    assert response.status_code == 409
    body = response.json()
    assert "deadline" in body["error"]
    assert body["result"] == {"round": 0, "hidden": True, "timed_out": True}
    assert rnd.location.city not in response.content.decode()
    guess = Guess.objects.get(round=rnd)
    assert guess.timed_out and guess.points == 0


def test_a_participant_leaves_and_resumes_from_another_browser_where_they_stopped(study_map):
    study = make_study(study_map)
    first = Client()
    participant = join(first, study)
    st = state(first, participant)
    assert answer(first, participant, st).status_code == 201
    next_state(first, participant)
    second_location = trial_location(participant, 1)

    other = Client()
    # The id the participant reports opens nothing; their page's address (the resume token) does.
    for url_name in ("api-study-state", "study-play", "study-withdraw", "study-done"):
        assert other.get(reverse(url_name, args=[str(participant.public_id)])).status_code == 404
    assert participant.resume_token != str(participant.public_id) and len(participant.resume_token) >= 43
    page = other.get(reverse("study-play", args=[participant.resume_token]))
    assert page.status_code == 200 and str(participant.public_id) in page.content.decode()
    resumed = state(other, participant)
    assert resumed["round"]["index"] == 1 and resumed["result"] is None
    assert trial_location(participant, 1) == second_location
    assert Round.objects.filter(game=participant.game).count() == 2


def test_withdrawing_deletes_the_participants_rows_and_nobody_elses(study_map):
    study = make_study(study_map)
    keep_client, gone_client = Client(), Client()
    keep = join(keep_client, study, q_familiarity="well")
    gone = join(gone_client, study, q_familiarity="a little")
    for client, p in ((keep_client, keep), (gone_client, gone)):
        assert answer(client, p, state(client, p)).status_code == 201
    page = gone_client.get(reverse("study-withdraw", args=[gone.resume_token]))
    assert page.status_code == 200
    response = gone_client.post(reverse("study-withdraw", args=[gone.resume_token]))
    assert response.status_code == 200 and b"deleted" in response.content

    assert not Participant.objects.filter(id=gone.id).exists()
    assert not Guess.objects.filter(player_id=gone.player_id).exists()
    assert not Round.objects.filter(game_id=gone.game_id).exists()
    assert Guess.objects.filter(player_id=keep.player_id).count() == 1
    assert gone_client.get(reverse("study-play", args=[gone.resume_token])).status_code == 404


def test_staff_delete_a_withdrawn_participant_by_their_id(study_map, staff_client):
    study = make_study(study_map)
    client = Client()
    participant = join(client, study)
    assert answer(client, participant, state(client, participant)).status_code == 201
    url = reverse("staff-study-withdraw", args=[study.slug])

    for bad in ("not-an-id", "00000000-0000-0000-0000-000000000000"):
        response = staff_client.post(url, {"participant": bad})
        assert response.status_code == 404 and b"nothing was deleted" in response.content
    assert Guess.objects.filter(player_id=participant.player_id).count() == 1

    assert Client().post(url, {"participant": str(participant.public_id)}).status_code == 302  # to the login
    assert Participant.objects.filter(id=participant.id).exists()

    response = staff_client.post(url, {"participant": str(participant.public_id)})
    assert response.status_code == 302
    assert not Participant.objects.filter(id=participant.id).exists()
    assert not Guess.objects.filter(player_id=participant.player_id).exists()


def test_unknown_and_expired_links_and_missing_consent(study_map):
    study = make_study(study_map)
    client = Client()
    assert client.get(reverse("study-join", args=["no-such-link"])).status_code == 404
    response = client.post(reverse("study-join", args=[study.link_token]), {"q_familiarity": "well"})
    assert response.status_code == 400 and b"agree" in response.content
    response = client.post(
        reverse("study-join", args=[study.link_token]), {"consent": "yes", "q_familiarity": "x"}
    )
    assert response.status_code == 400 and b"offered answers" in response.content
    assert not Participant.objects.exists()

    Study.objects.filter(id=study.id).update(closes_at=timezone.now() - timedelta(seconds=1))
    for response in (
        client.get(reverse("study-join", args=[study.link_token])),
        client.post(reverse("study-join", args=[study.link_token]), {"consent": "yes"}),
    ):
        assert response.status_code == 410 and b"expired" in response.content
    assert not Participant.objects.exists()


def test_answers_to_trials_not_assigned_or_not_yet_shown_are_refused_and_store_nothing(study_map):
    study = make_study(study_map)
    client, other_client = Client(), Client()
    participant = join(client, study)
    other = join(other_client, study)
    st = state(client, participant)
    other_st = state(other_client, other)

    def guess_at(c, p, index, body):
        return post_json(c, reverse("api-study-guess", args=[p.resume_token, index]), body)

    # Another participant's trial by the id they report (not their resume token): not found.
    response = post_json(
        client, reverse("api-study-guess", args=[str(other.public_id), 0]), {"city": st["candidates"][0]}
    )
    assert response.status_code == 404
    # A trial of one's own order that has not been shown yet (skipping ahead): not found.
    response = guess_at(client, participant, 3, {"city": st["candidates"][0]})
    assert response.status_code == 404 and "no such trial" in response.json()["error"]
    # A test-phase answer for a practice trial: the client is out of step.
    response = guess_at(client, participant, 0, {"city": st["candidates"][0], "phase": "test"})
    assert response.status_code == 409 and "practice location, not a test one" in response.json()["error"]
    assert (
        guess_at(client, participant, 0, {"city": st["candidates"][0], "phase": "final"}).status_code == 400
    )
    for bad in (
        {"city": "Atlantis, Nowhere"},
        {"lat": 1.0, "lon": 2.0},
        {"city": st["candidates"][0], "view_ms": [1, 2]},
        {"city": st["candidates"][0], "screen": {"w": -5, "h": 10}},
        {"city": st["candidates"][0], "views_seen": [7]},
    ):
        response = guess_at(client, participant, 0, bad)
        assert response.status_code == 400, (bad, response.content)
        assert response.json()["error"]
    response = client.post(
        reverse("api-study-guess", args=[participant.resume_token, 0]),
        "{not json",
        content_type="application/json",
    )
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    assert not Guess.objects.exists()

    # The right answer goes in once; sending it again returns the first.
    view_ms = [700] + [0] * (len(st["round"]["views"]) - 1)
    body = {
        "city": st["candidates"][1],
        "phase": "practice",
        "view_ms": view_ms,
        "screen": {"w": 800, "h": 600},
    }
    first = guess_at(client, participant, 0, body)
    again = guess_at(client, participant, 0, {"city": st["candidates"][2]})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["result"] == first.json()["result"]
    guess = Guess.objects.get()
    assert (guess.city, guess.view_ms, guess.screen_w, guess.screen_h) == (
        st["candidates"][1],
        view_ms,
        800,
        600,
    )
    assert other_st["round"]["index"] == 0 and not Guess.objects.filter(player=other.player).exists()


def test_a_tampered_join_or_guess_cannot_choose_the_locations(study_map):
    study = make_study(study_map)
    client = Client()
    forged = list(reversed(study.test_ids + study.practice_ids))
    participant = join(client, study, order=json.dumps(forged), location_order=json.dumps(forged), seed="1")
    order = participant.game.location_order
    assert sorted(order[:2]) == sorted(study.practice_ids) and sorted(order[2:]) == sorted(study.test_ids)
    st = state(client, participant)
    # Naming a location in the body changes nothing: the answer is for the trial shown.
    response = answer(client, participant, st, location_id=study.test_ids[0], location=study.test_ids[0])
    assert response.status_code == 201
    assert Guess.objects.get().round.location_id == order[0]


def test_a_participants_game_is_not_reachable_through_the_classic_game_api(study_map):
    study = make_study(study_map)
    client = Client()
    participant = join(client, study)
    st = state(client, participant)
    assert str(participant.game.public_id) not in json.dumps(st)
    game_id = participant.game.public_id
    assert client.get(reverse("api-game", args=[game_id])).status_code == 404
    assert (
        post_json(client, reverse("api-guess", args=[game_id, 0]), {"city": st["candidates"][0]}).status_code
        == 404
    )
    # Its images are the participant's only.
    url = st["round"]["views"][0]["url"]
    assert client.get(url).status_code == 200
    assert Client().get(url).status_code == 404


def test_staff_see_progress_and_export_every_answer_with_a_data_dictionary(study_map, staff_client):
    study = make_study(study_map)
    players = []
    for familiarity in ("well", ""):
        client = Client()
        participant = join(client, study, q_familiarity=familiarity)
        play_all(client, participant, pick=lambda loc: city_label(loc.city, loc.country))
        players.append(participant)
    half = Client()
    partial = join(half, study)
    assert answer(half, partial, state(half, partial), screen={"w": 1024, "h": 700}).status_code == 201

    page = staff_client.get(reverse("staff-study", args=[study.slug]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "<strong>3</strong> participants" in text and "<strong>2</strong> finished" in text
    assert "<strong>13</strong> answers" in text and study.link_token in text

    response = staff_client.get(reverse("staff-study-export", args=[study.slug, "csv"]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    dictionary = staff_client.get(reverse("staff-study-export", args=[study.slug, "dictionary.csv"]))
    columns = [r["column"] for r in csv.DictReader(io.StringIO(dictionary.content.decode()))]
    assert list(rows[0]) == columns and "q_familiarity" in columns
    assert len(rows) == Guess.objects.count() == 13
    for row in rows:
        guess = Guess.objects.get(
            round__game__participant__public_id=row["participant"], round__index=int(row["trial"])
        )
        loc = guess.round.location
        assert int(row["location_id"]) == loc.id
        assert row["phase"] == ("practice" if guess.round.index < 2 else "test")
        expected_km = great_circle((loc.lat, loc.lon), (guess.lat, guess.lon)).km
        assert float(row["distance_km"]) == pytest.approx(expected_km, rel=1e-3, abs=1e-6)
        assert int(row["points"]) == guess.points
        assert row["view_ms"] == ";".join(str(v) for v in guess.view_ms)
    assert {r["q_familiarity"] for r in rows} == {"well", ""}
    assert [r["screen_w"] for r in rows if r["participant"] == str(partial.public_id)] == ["1024"]

    body = staff_client.get(reverse("staff-study-export", args=[study.slug, "json"])).json()
    assert [d["column"] for d in body["dictionary"]] == columns
    assert len(body["rows"]) == 13 and body["study"]["test_ids"] == study.test_ids
    assert staff_client.get(reverse("staff-study-export", args=[study.slug, "xml"])).status_code == 404


@pytest.mark.parametrize(
    "url_name,args",
    [
        ("staff-studies", []),
        ("staff-study", ["SLUG"]),
        ("staff-study-export", ["SLUG", "csv"]),
        ("staff-study-export", ["SLUG", "json"]),
    ],
)
def test_non_staff_cannot_see_studies_or_exports(study_map, url_name, args):
    study = make_study(study_map)
    url = reverse(url_name, args=[study.slug if a == "SLUG" else a for a in args])
    User.objects.create_user("player", password="pw-player-1")
    visitor, member = Client(), Client()
    assert member.login(username="player", password="pw-player-1")
    participant_client = Client()
    join(participant_client, study)
    for client in (visitor, member, participant_client):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_create_a_study_and_bad_study_settings_are_refused(study_map, staff_client):
    url = reverse("staff-studies")
    form = {"name": "Pilot", "map": study_map.slug, "mode": "city", "practice_count": "3", "test_count": "5"}
    response = staff_client.post(url, {**form, "consent_text": "Agree?", "answers_after_practice": "on"})
    assert response.status_code == 302
    study = Study.objects.get(slug="pilot")
    assert (
        study.practice_count,
        study.test_count,
        study.answers_after_practice,
        study.answers_after_test,
    ) == (
        3,
        5,
        True,
        False,
    )
    for bad, message in (
        ({"consent_text": ""}, "consent"),
        ({"name": "Pilot", "consent_text": "x"}, "exists already"),
        ({"name": "Big", "test_count": "50", "consent_text": "x"}, "test split has 10 playable locations"),
        ({"name": "Odd", "test_count": "five", "consent_text": "x"}, "whole number"),
        ({"name": "Late", "closes_at": "tomorrow", "consent_text": "x"}, "date and time"),
        ({"name": "Quick", "time_limit_s": "3", "consent_text": "x"}, "time limit"),
        ({"name": "Nowhere", "map": "no-map", "consent_text": "x"}, "maps listed"),
    ):
        response = staff_client.post(url, {**form, **bad})
        assert response.status_code == 400 and message in response.content.decode(), bad
    assert Study.objects.count() == 1


def test_create_study_command_prints_the_link_and_refuses_bad_arguments(study_map, tmp_path):
    out = io.StringIO()
    call_command(
        "create_study", study_map.slug, "--name", "CLI study", "--practice", "1", "--test", "3", stdout=out
    )
    study = Study.objects.get(slug="cli-study")
    assert f"/study/{study.link_token}/" in out.getvalue()
    with pytest.raises(CommandError, match="no map 'nope'"):
        call_command("create_study", "nope", "--name", "x")
    with pytest.raises(CommandError, match="needs 60"):
        call_command("create_study", study_map.slug, "--name", "Too big", "--practice", "10")
    with pytest.raises(CommandError, match="cannot read the consent file"):
        call_command(
            "create_study",
            study_map.slug,
            "--name",
            "y",
            "--test",
            "2",
            "--consent-file",
            str(tmp_path / "no"),
        )


def test_joining_and_answering_are_rate_limited_per_client(study_map, settings):
    settings.GEOGAME_RATE_LIMITS = {**settings.GEOGAME_RATE_LIMITS, "study": (2, 60), "guess": (1, 60)}
    study = make_study(study_map)
    link = reverse("study-join", args=[study.link_token])
    client = Client()
    participant = join(client, study)
    join(Client(), study)
    response = Client().post(link, {"consent": "yes"})  # the same address, a third time
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert "too many requests" in response.json()["error"]
    assert Participant.objects.count() == 2

    st = state(client, participant)
    assert answer(client, participant, st).status_code == 201
    assert answer(client, participant, st).status_code == 429  # this session's one guess a minute is spent
    assert Guess.objects.count() == 1


def test_the_csv_export_does_not_carry_formulas_to_a_spreadsheet(study_map, staff_client):
    Location.objects.filter(map=study_map, city="Orleans").update(city='=HYPERLINK("http://evil","x")')
    map_refresh_city_centres(study_map)  # as an import of that name would
    study = make_study(study_map, practice_count=0, test_count=10)
    client = Client()
    participant = join(client, study)
    play_all(client, participant, pick=lambda loc: city_label(loc.city, loc.country))
    response = staff_client.get(reverse("staff-study-export", args=[study.slug, "csv"]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    evil = [r for r in rows if "HYPERLINK" in r["answer_city"]]
    assert evil and all(r["answer_city"].startswith("'=") and r["guess_city"].startswith("'=") for r in evil)
    assert any(float(r["answer_lon"]) < 0 for r in rows)  # numbers stay numbers
