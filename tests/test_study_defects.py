"""Issue 19's defects of the human-baseline study, one test each: withdrawal after a report, the
resume token apart from the reported id, time away, repeat joins, the access log, timeouts'
`correct`, the instructions' view count, the marked test start and the answer-button order."""

import csv
import io
import json
import logging
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from geogame.common.logs import SecretPathFilter, loggable_path
from geogame.game.models import Guess, Round
from geogame.maps.models import Location, View
from geogame.studies import rules as study_rules
from geogame.studies import selectors as study_selectors
from geogame.studies import services as study_services
from geogame.studies.models import Participant, Study, Trial
from tests.test_study import answer, join, make_study, next_state, post_json, state


def export_csv(study):
    from django.contrib.auth.models import User

    User.objects.filter(username="export-staff").exists() or User.objects.create_user(
        "export-staff", password="pw-export-1", is_staff=True
    )
    staff = Client()
    assert staff.login(username="export-staff", password="pw-export-1")
    response = staff.get(reverse("staff-study-export", args=[study.slug, "csv"]))
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode())))


# -- 3. The id a participant reports is not their credential --------------------------------------


def test_the_reported_id_and_forged_tokens_open_nothing_and_change_nothing(study_map):
    study = make_study(study_map)
    client = Client()
    participant = join(client, study)
    st = state(client, participant)
    pid = str(participant.public_id)
    stranger = Client()
    token = participant.resume_token
    # One character off: the last one changed (a fixed "A" was the token itself one time in 16).
    forged = token[:-1] + ("B" if token[-1] != "B" else "C")
    for bad in (pid, pid.replace("-", ""), "x" * 43, forged, "y" * 500):
        assert stranger.get(reverse("study-play", args=[bad])).status_code == 404
        assert stranger.get(reverse("api-study-state", args=[bad])).status_code == 404
        assert stranger.post(reverse("study-withdraw", args=[bad])).status_code == 404
        assert stranger.post(reverse("api-study-next", args=[bad])).status_code == 404
        response = post_json(
            stranger, reverse("api-study-guess", args=[bad, 0]), {"city": st["candidates"][0]}
        )
        assert response.status_code == 404
    assert Participant.objects.filter(id=participant.id).exists()
    assert not Guess.objects.exists()
    # The token is nowhere in what the participant is told to keep and give out.
    done = client.get(reverse("study-done", args=[participant.resume_token])).content.decode()
    assert pid in done
    assert participant.resume_token not in done.replace(
        reverse("study-withdraw", args=[participant.resume_token]), ""
    )


def test_a_resume_token_answers_only_for_its_own_participant(study_map):
    study = make_study(study_map)
    a_client, b_client = Client(), Client()
    a = join(a_client, study)
    b = join(b_client, study)
    a_state, b_state = state(a_client, a), state(b_client, b)
    # B's token from A's browser: it is B's trial that is answered, never A's.
    assert answer(a_client, b, b_state).status_code == 201
    assert Guess.objects.filter(player=b.player).count() == 1
    assert not Guess.objects.filter(player=a.player).exists()
    assert a_state["round"]["guess_url"] != b_state["round"]["guess_url"]


# -- 4. time_taken_s excludes time away ------------------------------------------------------------


def test_time_away_between_leaving_and_resuming_a_trial_is_not_counted(study_map):
    study = make_study(study_map)
    t0 = timezone.now()
    participant = study_services.participant_join(study=study, now=t0)
    rnd = study_services.trial_current(participant=participant, now=t0)
    assert Trial.objects.get(participant=participant, index=0).displays == 1
    # They leave after 3 s on screen; 10 minutes later they open their page again.
    study_services.trial_resumed(participant=participant, now=t0 + timedelta(minutes=10))
    study_services.trial_guess(
        participant=participant,
        index=rnd.index,
        city=study_selectors.study_state(participant, rnd)["candidates"][0],
        client={"hidden_ms": 1500, "blur_count": 1, "rt_ms": 3200},
        now=t0 + timedelta(minutes=10, seconds=4),
    )
    # The next trial, answered without leaving.
    rnd = study_services.trial_current(participant=participant, now=t0 + timedelta(minutes=11))
    study_services.trial_guess(
        participant=participant,
        index=rnd.index,
        city=study_selectors.study_state(participant, rnd)["candidates"][0],
        now=t0 + timedelta(minutes=11, seconds=5),
    )
    Guess.objects.filter(round__index=0).update(created_at=t0 + timedelta(minutes=10, seconds=4))
    Guess.objects.filter(round__index=1).update(created_at=t0 + timedelta(minutes=11, seconds=5))
    rows = {int(r["trial"]): r for r in export_csv(study)}
    assert float(rows[0]["time_taken_s"]) == pytest.approx(4 - 1.5)
    assert float(rows[0]["elapsed_s"]) == pytest.approx(604)
    assert float(rows[0]["away_s"]) == pytest.approx(604 - 2.5)
    assert rows[0]["interrupted"] == "True" and rows[0]["displays"] == "2"
    assert (rows[0]["hidden_ms"], rows[0]["blur_count"], rows[0]["rt_ms"]) == ("1500", "1", "3200")
    assert float(rows[1]["time_taken_s"]) == pytest.approx(5)
    assert rows[1]["interrupted"] == "False" and rows[1]["displays"] == "1"


def test_reopening_the_page_marks_the_trial_resumed_and_an_answered_one_not(study_map):
    study = make_study(study_map)
    client = Client()
    participant = join(client, study)
    st = state(client, participant)
    assert client.get(reverse("study-play", args=[participant.resume_token])).status_code == 200
    assert Trial.objects.get(participant=participant, index=0).displays == 2
    assert answer(client, participant, st).status_code == 201
    assert client.get(reverse("study-play", args=[participant.resume_token])).status_code == 200
    assert Trial.objects.get(participant=participant, index=0).displays == 2


@pytest.mark.parametrize(
    "measures",
    [{"hidden_ms": -1}, {"rt_ms": "fast"}, {"blur_count": 10**9}, {"hidden_ms": True}, "not an object"],
)
def test_bad_browser_measures_are_refused_and_store_nothing(study_map, measures):
    study = make_study(study_map)
    client = Client()
    participant = join(client, study)
    st = state(client, participant)
    response = post_json(client, st["round"]["guess_url"], {"city": st["candidates"][0], "client": measures})
    assert response.status_code == 400 and response.json()["error"]
    assert not Guess.objects.exists()


def test_timing_rule_never_goes_negative():
    t = timezone.now()
    assert study_rules.timing(
        first_shown_at=t,
        shown_at=t + timedelta(seconds=5),
        answered_at=t + timedelta(seconds=7),
        hidden_ms=60_000,
    ) == (0.0, 7.0, 7.0)


# -- 5. Repeat participation -----------------------------------------------------------------------


def test_the_same_browser_cannot_take_the_study_again(study_map):
    study = make_study(study_map)
    client = Client()
    join(client, study)
    link = reverse("study-join", args=[study.link_token])
    again = client.post(link, {"consent": "yes"})
    assert again.status_code == 409 and b"already" in again.content
    assert client.get(link).status_code == 409
    # Even with a fresh session (the cookie outlives it) and after finishing.
    client.session.flush()
    assert client.post(link, {"consent": "yes"}).status_code == 409
    assert Participant.objects.count() == 1
    # A tampered cookie counts as none; another browser may join; another study is unaffected.
    client.cookies["geogame_studies_taken"] = f"{study.id}:forged:signature"
    assert client.get(link).status_code == 200
    join(Client(), study)
    other = make_study(study_map, name="Second study", seed=2)
    assert Client().get(reverse("study-join", args=[other.link_token])).status_code == 200


# -- 6. The access log ----------------------------------------------------------------------------


def test_the_access_log_records_neither_the_participant_id_nor_the_resume_token(study_map, caplog):
    study = make_study(study_map)
    client = Client()
    with caplog.at_level(logging.INFO, logger="geogame.request"):
        participant = join(client, study)
        st = state(client, participant)
        assert answer(client, participant, st).status_code == 201
        client.get(reverse("study-done", args=[participant.resume_token]))
        client.get(reverse("study-withdraw", args=[participant.resume_token]))
    lines = [r.getMessage() + json.dumps(getattr(r, "path", "")) for r in caplog.records]
    assert any("/study/r/[token]/" in line for line in lines), lines
    text = "\n".join(lines)
    assert str(participant.public_id) not in text and participant.resume_token not in text


def test_a_token_in_other_log_records_is_masked_too():
    assert loggable_path("/api/study/r/abcDEF_-123/trials/2/guess/") == "/api/study/r/[token]/trials/2/guess/"
    assert loggable_path("/play/123/") == "/play/123/"
    record = logging.LogRecord(
        "django.request", logging.WARNING, "", 0, "Not Found: %s", ("/study/r/s3cret/",), None
    )
    assert SecretPathFilter().filter(record) and record.getMessage() == "Not Found: /study/r/[token]/"


def test_the_default_consent_text_has_placeholders_and_says_what_the_logs_keep():
    for placeholder in ("Purpose:", "Risks:", "Compensation:", "Retention:", "Contact:"):
        assert placeholder in study_services.DEFAULT_CONSENT
    assert "logs never record your id" in study_services.DEFAULT_CONSENT


# -- 7. `correct` for timeouts --------------------------------------------------------------------


def test_a_timed_out_city_answer_is_stored_and_exported_as_wrong(study_map):
    study = make_study(study_map, time_limit_s=30)
    participant = study_services.participant_join(study=study)
    rnd = study_services.trial_current(participant=participant)
    with pytest.raises(study_services.GameError):
        study_services.trial_guess(
            participant=participant, index=0, city="x", now=rnd.deadline + timedelta(minutes=1)
        )
    guess = Guess.objects.get(round=rnd)
    assert guess.timed_out and guess.correct is False
    Guess.objects.filter(id=guess.id).update(correct=None)  # a row stored before the fix
    (row,) = export_csv(study)
    assert row["timed_out"] == "True" and row["correct"] == "False"


# -- 8. The instructions say how many views ---------------------------------------------------------


def test_the_instructions_say_the_number_of_views_the_locations_have(study_map):
    study = make_study(study_map)
    counts = [
        View.objects.filter(location_id=i).count()
        for i in study.practice_ids + study.test_ids + study.catch_ids
    ]
    page = Client().get(reverse("study-join", args=[study.link_token])).content.decode()
    assert f"each as {study_rules.views_text(counts)}." in page
    if set(counts) != {3}:
        assert "three street views" not in page


def test_the_views_rule_names_one_count_or_the_range():
    assert study_rules.views_text([3, 3]) == "three street views"
    assert study_rules.views_text([1]) == "one street view"
    assert study_rules.views_text([3, 1, 1, 3]) == "one to three street views"
    assert study_rules.views_text([9, 12]) == "9 to 12 street views"


# -- 9. The test phase's start, and the answer buttons' order ------------------------------------


def test_the_test_phase_starts_only_from_the_page_that_announces_it(study_map):
    study = make_study(study_map)  # 2 practice, 4 test
    client = Client()
    participant = join(client, study)
    st = state(client, participant)
    assert answer(client, participant, st).status_code == 201
    st = next_state(client, participant)
    assert answer(client, participant, st).status_code == 201
    after_practice = state(client, participant)
    test_page = reverse("study-test-start", args=[participant.resume_token])
    assert after_practice["finished"] and after_practice["summary_url"] == test_page
    assert after_practice["summary_label"] == "Continue to the test"
    response = client.post(reverse("api-study-next", args=[participant.resume_token]))
    assert response.status_code == 409 and "start the test" in response.json()["error"]
    assert Round.objects.filter(game=participant.game).count() == 2
    page = client.get(test_page)
    assert page.status_code == 200 and b"the test begins" in page.content
    assert client.post(test_page).status_code == 302
    participant.refresh_from_db()
    assert participant.test_started_at is not None
    st = state(client, participant)
    assert st["round"]["index"] == 2 and st["round"]["phase"] == "test" and st["result"] is None
    assert Round.objects.get(game=participant.game, index=2).started_at >= participant.test_started_at


def test_answer_buttons_come_in_an_order_shuffled_per_trial_and_recorded(study_map):
    study = make_study(study_map, practice_count=0, test_count=6)
    client = Client()
    participant = join(client, study)
    shown = []
    st = state(client, participant)
    for _ in range(6):
        shown.append(st["candidates"])
        assert answer(client, participant, st).status_code == 201
        st = next_state(client, participant)
    assert len({tuple(c) for c in shown}) > 1  # not one fixed order
    assert all(sorted(c) == sorted(shown[0]) for c in shown)
    rows = export_csv(study)
    assert [r["choice_order"].split("|") for r in rows] == shown
    # The answer given is the first button each time: the export shows it was the first shown.
    assert all(r["guess_city"] == r["choice_order"].split("|")[0] for r in rows)


def test_choice_order_rule_is_reproducible_and_varies():
    cities = ["A", "B", "C", "D", "E"]
    assert study_rules.choice_order(cities, 5, 1) == study_rules.choice_order(list(reversed(cities)), 5, 1)
    assert len({tuple(study_rules.choice_order(cities, 5, i)) for i in range(20)}) > 5


# -- 1. Withdrawal reaches earlier reports ------------------------------------------------------------


def test_withdrawal_after_a_report_strips_the_participant_and_marks_it_superseded(study_map):
    from geogame.benchmarks.models import BenchmarkReport
    from geogame.benchmarks.report import report_path

    study = make_study(study_map, practice_count=0, test_count=3)
    clients = [Client(), Client()]
    stay, gone = (join(c, study) for c in clients)
    for c, p in zip(clients, (stay, gone), strict=True):
        st = state(c, p)
        for _ in range(3):
            assert answer(c, p, st).status_code == 201
            st = next_state(c, p)
    gone_id, stay_id = str(gone.public_id), str(stay.public_id)
    # A report made before the withdrawal, by the benchmark command, holding both participants.
    call_command(
        "benchmark", study_map.slug, "--study", study.slug, "--players", "random", "--bootstrap", "100"
    )
    report = BenchmarkReport.objects.get(study=study)
    folder = report_path(report)
    assert {"answers.csv", "participants.csv", "report.json"} <= set(report.files)
    for name in ("answers.csv", "participants.csv", "report.json"):
        assert gone_id in (folder / name).read_text() and stay_id in (folder / name).read_text()
    machine_rows = (folder / "answers.csv").read_text().count("\nrandom,")
    untouched = BenchmarkReport.objects.create(
        map=study_map, study=make_study(study_map, name="Other", seed=3)
    )

    response = clients[1].post(reverse("study-withdraw", args=[gone.resume_token]))
    assert response.status_code == 200

    report.refresh_from_db()
    assert report.superseded_at is not None and report.withdrawn_since == 1
    assert [p["participant"] for p in report.data["participants"]] == [stay_id]
    assert any("withdrew" in n for n in report.data["notes"])
    for name in ("answers.csv", "participants.csv", "report.json"):
        text = (folder / name).read_text()
        assert gone_id not in text, name
    assert stay_id in (folder / "answers.csv").read_text()
    assert (folder / "answers.csv").read_text().count("\nrandom,") == machine_rows > 0
    assert json.loads((folder / "report.json").read_text())["superseded_at"]
    assert Study.objects.get(id=study.id).withdrawn_count == 1
    untouched.refresh_from_db()
    assert untouched.superseded_at is None
    # The report page says it is superseded.
    from django.contrib.auth.models import User

    User.objects.create_user("rep-staff", password="pw-rep-1", is_staff=True)
    staff = Client()
    assert staff.login(username="rep-staff", password="pw-rep-1")
    page = staff.get(reverse("benchmark-report", args=[report.public_id])).content.decode()
    assert "withdrew" in page and gone_id not in page


# -- 10. A test set stratified by city, or a clear refusal ------------------------------------------


def test_a_stratified_test_set_has_as_many_locations_from_every_city(study_map):
    study = make_study(study_map, practice_count=2, test_count=5, stratify=True)  # 5 cities, 2 test each
    cities = [Location.objects.get(id=i).city for i in study.test_ids]
    assert sorted(Counter(cities).values()) == [1] * 5
    assert not set(study.practice_ids) & set(study.test_ids)


@pytest.mark.parametrize(
    "test_count, words",
    [(4, "needs a multiple of the map's 5 cities"), (15, "too small for 3 test locations per city")],
)
def test_a_stratified_test_set_the_split_cannot_give_is_refused_with_the_counts(study_map, test_count, words):
    with pytest.raises(study_services.GameError, match=words):
        make_study(study_map, practice_count=0, test_count=test_count, stratify=True)
    with pytest.raises(CommandError, match=words):
        args = ["--name", "S", "--practice", "0", "--test", str(test_count), "--stratify"]
        call_command("create_study", study_map.slug, *args)
    assert not Study.objects.exists()


def test_stratified_rule_is_seeded():
    by_city = {"A": [1, 2, 3], "B": [4, 5, 6]}
    first = study_rules.stratified_location_sets(by_city, 2, 2, seed=9)
    assert first == study_rules.stratified_location_sets(by_city, 2, 2, seed=9)
    assert len({i for i in first[1] if i <= 3}) == 1 and len(first[0]) == 2


def test_withdrawal_after_a_report_rebuilds_it_without_the_participant(transactional_db, study_map):
    """The withdrawal commits, then the queued rebuild (the in-process fallback of the Celery task)
    recomputes the report in place with its own settings: the figures are those of a fresh run."""
    from geogame.benchmarks.models import BenchmarkReport
    from geogame.benchmarks.report import report_path
    from geogame.benchmarks.tasks import benchmark_rebuild
    from geogame.common import background
    from geogame.maps.rules import city_label

    study = make_study(study_map, practice_count=0, test_count=3)
    clients = [Client(), Client()]
    stay, gone = (join(c, study) for c in clients)
    for c, p, right in zip(clients, (stay, gone), (True, False), strict=True):
        st = state(c, p)
        for _ in range(3):
            loc = Round.objects.get(game=p.game, index=st["round"]["index"]).location
            truth = city_label(loc.city, loc.country)
            pick = truth if right else next(x for x in st["candidates"] if x != truth)
            assert answer(c, p, st, city=pick).status_code == 201
            st = next_state(c, p)
    args = ["benchmark", study_map.slug, "--study", study.slug, "--players", "random", "--bootstrap", "100"]
    call_command(*args, "--seed", "4", stdout=io.StringIO())
    report = BenchmarkReport.objects.get()
    humans = report.data["methods"][0]
    assert (humans["participants"], humans["accuracy"]) == (2, 50.0)

    assert clients[1].post(reverse("study-withdraw", args=[gone.resume_token])).status_code == 200
    background.wait_local(timeout=120)

    report.refresh_from_db()
    assert report.superseded_at is None and report.rebuilt_at is not None and report.withdrawn_since == 1
    humans = report.data["methods"][0]
    assert (humans["participants"], humans["n"], humans["accuracy"]) == (1, 3, 100.0)
    assert [p["participant"] for p in report.data["participants"]] == [str(stay.public_id)]
    assert [m["method"] for m in report.data["methods"]] == ["humans", "random"]
    assert (report.data["bootstrap"]["n_resamples"], report.data["bootstrap"]["seed"]) == (100, 4)
    assert any(n.startswith("Rebuilt on") for n in report.data["notes"])
    assert not any("withdrew after this report was made" in n for n in report.data["notes"])
    folder = report_path(report)
    for name in report.files:
        assert (folder / name).is_file(), name
        if not name.endswith(".png"):
            assert str(gone.public_id) not in (folder / name).read_text(), name
    assert json.loads((folder / "report.json").read_text())["methods"][0]["accuracy"] == 100.0
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no half-built folder left

    # The same as a fresh run with the same settings; a redelivered task changes nothing.
    call_command(*args, "--seed", "4", stdout=io.StringIO())
    fresh = BenchmarkReport.objects.exclude(id=report.id).get()
    assert fresh.data["methods"] == report.data["methods"]
    assert fresh.data["participants"] == report.data["participants"]
    rebuilt_at = report.rebuilt_at
    assert benchmark_rebuild.run(report.id) is None
    report.refresh_from_db()
    assert report.rebuilt_at == rebuilt_at


def test_a_rebuild_overtaken_by_another_withdrawal_is_dropped(study_map, monkeypatch):
    """A second withdrawal while a rebuild computes: that build would still hold the second person,
    so it is dropped (the second withdrawal queued its own rebuild)."""
    from geogame.benchmarks import report as report_module
    from geogame.benchmarks.models import BenchmarkReport

    study = make_study(study_map, practice_count=0, test_count=3)
    c = Client()
    p = join(c, study)
    st = state(c, p)
    assert answer(c, p, st).status_code == 201
    call_command(
        "benchmark", study_map.slug, "--study", study.slug, "--players", "random", "--bootstrap", "100",
        stdout=io.StringIO(),
    )  # fmt: skip
    report = BenchmarkReport.objects.get()
    BenchmarkReport.objects.filter(id=report.id).update(superseded_at=timezone.now(), withdrawn_since=1)
    real_build = report_module.build_report

    def build_then_another_withdrawal(**kw):
        out = real_build(**kw)
        BenchmarkReport.objects.filter(id=report.id).update(withdrawn_since=2)
        return out

    monkeypatch.setattr(report_module, "build_report", build_then_another_withdrawal)
    assert report_module.report_rebuild(report_id=report.id) is None
    report.refresh_from_db()
    assert report.superseded_at is not None and report.rebuilt_at is None
    assert sorted(x.name for x in report_module.report_path(report).parent.iterdir()) == [
        str(report.public_id)
    ]
