"""`manage.py benchmark`: humans of a study and machine players on the same test locations.

Every figure the report shows is checked against a computation made here from the stored
rows (Guess, Location) with plain Python and geopy, not with the report's own code."""

import csv
import io
import json
import statistics
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from geopy.distance import great_circle
from PIL import Image

from geogame.benchmarks.models import BenchmarkReport
from geogame.game.models import Game, Guess
from geogame.game.selectors import city_centres
from geogame.game.services import GameError
from geogame.maps.models import Location
from geogame.studies import services as study_services
from inference import registry
from inference.training import train, trained_model_create

pytestmark = pytest.mark.django_db

THRESHOLDS = (1, 25, 200, 750, 2500)
FIGURES = ["accuracy", "median_km", "mean_km", "mean_points"] + [f"within_{t}km" for t in THRESHOLDS]


@pytest.fixture
def bench_map(trainable_map):
    """The trainable map with 12 test locations (2-3 per city), 5 val, the rest train."""
    by_city = defaultdict(list)
    for loc in Location.objects.filter(map=trainable_map).order_by("id"):
        by_city[loc.city].append(loc.id)
    test, val = [], []
    for k, ids in enumerate(by_city.values()):
        n_test = 3 if k < 2 else 2
        test += ids[:n_test]
        val.append(ids[n_test])
    Location.objects.filter(map=trainable_map).update(split=Location.TRAIN)
    Location.objects.filter(id__in=test).update(split=Location.TEST)
    Location.objects.filter(id__in=val).update(split=Location.VAL)
    return trainable_map


def label(loc):
    return f"{loc.city}, {loc.country}"


def play(participant, pick, *, time_out=(), stop_after=None):
    """Answer the participant's trials: pick(index, true label) -> city; trials in `time_out`
    run past their deadline instead."""
    study_services.test_start(participant=participant)  # no pause page between the phases here
    while True:
        rnd = study_services.trial_current(participant=participant)
        if rnd is None or (stop_after is not None and rnd.index >= stop_after):
            return
        if rnd.index in time_out:
            with pytest.raises(GameError):
                study_services.trial_guess(
                    participant=participant,
                    index=rnd.index,
                    city="x",
                    now=rnd.deadline + timedelta(minutes=5),
                )
            continue
        study_services.trial_guess(participant=participant, index=rnd.index, **pick(rnd.index, rnd.location))


def city_study(m, **kw):
    return study_services.study_create(
        map=m,
        name=kw.pop("name", "Pilot"),
        consent_text="I agree.",
        mode=kw.pop("mode", Game.CITY),
        practice_count=3,
        test_count=8,
        time_limit_s=60,
        seed=7,
        **kw,
    )


def run_benchmark(*args):
    out = io.StringIO()
    call_command("benchmark", *args, stdout=out)
    return BenchmarkReport.objects.order_by("-id").first(), out.getvalue()


def methods(report):
    return {row["method"]: row for row in report.data["methods"]}


def independent_figures(km, points, correct):
    """The report's figures from plain lists; km is None for a timed-out answer."""
    answered = [d for d in km if d is not None]
    return {
        "accuracy": None if correct is None else 100 * sum(correct) / len(correct),
        "median_km": statistics.median(answered),
        "mean_km": statistics.fmean(answered),
        "mean_points": statistics.fmean(points),
        **{f"within_{t}km": 100 * sum(d is not None and d <= t for d in km) / len(km) for t in THRESHOLDS},
    }


def assert_figures(row, expected):
    for key in FIGURES:
        assert row[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-6), key


def human_answers(study):
    """Stored guesses of the study's participants, with their location and phase."""
    return [
        {
            "participant": str(g.player.participant.public_id),
            "phase": "practice" if g.round.index < study.practice_count else "test",
            "location": g.round.location,
            "guess": g,
        }
        for g in Guess.objects.filter(player__participant__study=study).select_related(
            "round__location", "player__participant"
        )
    ]


def test_the_report_matches_an_independent_computation_from_the_stored_rows(bench_map, django_user_model):
    train(trained_model_create(m=bench_map, name="ensemble"), seed=0)
    study = city_study(bench_map)
    cities = sorted(city_centres(bench_map))

    def wrong(loc):
        return cities[(cities.index(label(loc)) + 1) % len(cities)]

    everyone = []
    for pick, time_out in [
        (lambda i, loc: {"city": label(loc)}, ()),  # always right
        (lambda i, loc: {"city": label(loc) if loc.id % 2 else wrong(loc)}, ()),
        (lambda i, loc: {"city": "Orleans, France"}, (5,)),  # one test trial timed out
    ]:
        p = study_services.participant_join(study=study)
        play(p, pick, time_out=time_out)
        everyone.append(p)
    late = study_services.participant_join(study=study)
    play(late, lambda i, loc: {"city": label(loc)}, stop_after=3)  # practice only

    report, out = run_benchmark(bench_map.slug, "--study", study.slug, "--bootstrap", "300", "--seed", "5")
    data = report.data
    assert data["mode"] == "city" and data["locations"] == 8
    assert report.study == study and report.map == bench_map
    assert sorted(report.provenance["locations"]["ids"]) == sorted(study.test_ids)

    # Humans: pooled over every test answer, distances and points as stored.
    rows = human_answers(study)
    test = [r for r in rows if r["phase"] == "test"]
    assert len(test) == 24
    humans = methods(report)["humans"]
    assert humans["available"] and humans["n"] == 24 and humans["participants"] == 3
    assert humans["n_answered"] == 23
    km = [
        None
        if r["guess"].timed_out
        else great_circle((r["location"].lat, r["location"].lon), (r["guess"].lat, r["guess"].lon)).km
        for r in test
    ]
    correct = [not r["guess"].timed_out and r["guess"].city == label(r["location"]) for r in test]
    assert_figures(humans, independent_figures(km, [5000 * c for c in correct], correct))

    # Table 1: every participant's practice and test accuracy.
    table = {p["participant"]: p for p in data["participants"]}
    assert len(table) == 4
    for p in everyone + [late]:
        pid = str(p.public_id)
        for phase in ("practice", "test"):
            own = [r for r in rows if r["participant"] == pid and r["phase"] == phase]
            assert table[pid][f"{phase}_n"] == len(own)
            if own:
                right = sum(r["guess"].city == label(r["location"]) for r in own)
                assert table[pid][f"{phase}_accuracy"] == pytest.approx(100 * right / len(own))
            else:
                assert table[pid][f"{phase}_accuracy"] is None
    assert table[str(everyone[0].public_id)]["test_accuracy"] == 100.0
    assert table[str(everyone[2].public_id)]["test_timed_out"] == 1
    assert table[str(late.public_id)]["finished"] is False and table[str(late.public_id)]["test_n"] == 0

    # Machine players on the same locations, scored as the study scores a participant.
    locations = list(Location.objects.filter(id__in=study.test_ids).order_by("id"))
    centres = city_centres(bench_map)
    predicted = {}
    for name in ("random", "centroid", "ensemble", "retrieval"):
        preds = registry.load_player(name, bench_map).predict(locations)
        predicted[name] = {loc.id: p.city for loc, p in zip(locations, preds, strict=True)}
        km = [
            great_circle((loc.lat, loc.lon), centres[p.city]).km
            for loc, p in zip(locations, preds, strict=True)
        ]
        right = [p.city == label(loc) for loc, p in zip(locations, preds, strict=True)]
        row = methods(report)[name]
        assert row["available"] and row["n"] == 8
        assert_figures(row, independent_figures(km, [5000 * r for r in right], right))
    assert methods(report)["ensemble"]["artefact_version"] == 1
    assert methods(report)["ensemble"]["accuracy"] == 100.0  # each city has its own colour cast
    for name in ("clip", "hierarchical", "regression", "transfer"):
        row = methods(report)[name]
        assert not row["available"] and row["reason"]
        assert all(row[k] is None and row[f"{k}_ci"] is None for k in FIGURES)
    assert "no CLIP weights configured" in methods(report)["clip"]["reason"]

    # Confusion counts: who put which city's locations where.
    expected = Counter((label(r["location"]), r["guess"].city or "(no answer)") for r in test)
    matrix = data["confusion"]["humans"]
    got = Counter(
        {
            (t, c): n
            for t, counts in zip(matrix["rows"], matrix["counts"], strict=True)
            for c, n in zip(matrix["columns"], counts, strict=True)
            if n
        }
    )
    assert got == expected
    centroid = data["confusion"]["centroid"]
    assert sum(map(sum, centroid["counts"])) == 8
    assert Counter(predicted["centroid"].values()) == Counter(
        {c: n for c, n in data["prediction_distribution"]["centroid"].items() if n}
    )

    # Per city: humans' share right among the answers on each true city.
    per_city = {(r["method"], r["city"]): r for r in data["per_city"]}
    for city in {label(r["location"]) for r in test}:
        on_city = [r for r in test if label(r["location"]) == city]
        right = sum(not r["guess"].timed_out and r["guess"].city == city for r in on_city)
        assert per_city[("humans", city)]["n"] == len(on_city)
        assert per_city[("humans", city)]["accuracy"] == pytest.approx(100 * right / len(on_city))

    # Paired: per location, the humans' mean against the model there.
    by_location = defaultdict(list)
    for r in test:
        by_location[r["location"].id].append(
            not r["guess"].timed_out and r["guess"].city == label(r["location"])
        )
    truth = {loc.id: label(loc) for loc in locations}
    for p in data["paired"]:
        if p["metric"] != "accuracy":
            continue
        model = {i: 100.0 * (predicted[p["model"]][i] == truth[i]) for i in by_location}
        human = {i: 100.0 * statistics.fmean(v) for i, v in by_location.items()}
        assert p["locations"] == len(by_location) and p["human_answers"] == 24
        assert p["difference"] == pytest.approx(statistics.fmean(model[i] - human[i] for i in by_location))
        assert p["model_better"] == sum(model[i] > human[i] for i in by_location)
        assert p["human_better"] == sum(model[i] < human[i] for i in by_location)
        assert 0 < p["sign_test_p"] <= 1
    assert {p["model"] for p in data["paired"]} == {"random", "centroid", "ensemble", "retrieval"}

    # Every interval holds its point estimate and comes back the same with the same seed.
    for row in data["methods"]:
        for key in FIGURES:
            if row[key] is not None:
                low, high = row[f"{key}_ci"]
                assert low - 1e-9 <= row[key] <= high + 1e-9, (row["method"], key)
    for p in data["participants"]:
        if p["test_n"]:
            assert p["test_accuracy_ci"][0] <= p["test_accuracy"] <= p["test_accuracy_ci"][1]
    for p in data["paired"]:
        assert p["difference_ci"][0] - 1e-9 <= p["difference"] <= p["difference_ci"][1] + 1e-9
    again, _ = run_benchmark(bench_map.slug, "--study", study.slug, "--bootstrap", "300", "--seed", "5")
    assert again.public_id != report.public_id
    assert again.data == data
    other_seed, _ = run_benchmark(bench_map.slug, "--study", study.slug, "--bootstrap", "300", "--seed", "6")
    assert other_seed.data["methods"][0]["accuracy"] == humans["accuracy"]
    assert other_seed.data["methods"] != data["methods"]  # the intervals moved, the figures did not

    # The printed tables, and the page staff read, with artefact versions and the data used.
    assert "| Human benchmark (3 participants) | 24 |" in out
    assert "| clip | - | unavailable: no CLIP weights configured" in out
    assert f"report: /benchmarks/{report.public_id}/" in out
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    page = client.get(f"/benchmarks/{report.public_id}/").content.decode()
    assert "Human benchmark (3 participants)" in page
    assert report.provenance["locations"]["digest"] in page
    assert report.provenance["players"]["ensemble"]["artefact"]["directory"] in page
    assert "version 1" in page and "unavailable: no CLIP weights configured" in page
    assert f"manage.py benchmark {bench_map.slug} --study {study.slug}" in page
    for name in report.files:
        assert f"/benchmarks/{report.public_id}/files/{name}" in page


def test_report_files_hold_the_same_figures_in_csv_json_and_readable_plots(bench_map, django_user_model):
    study = city_study(bench_map)
    for k in range(2):
        p = study_services.participant_join(study=study)
        play(p, lambda i, loc, k=k: {"city": label(loc) if (loc.id + k) % 3 else "Singapore, Singapore"})
    report, _ = run_benchmark(
        bench_map.slug, "--study", study.slug, "--players", "random,centroid", "--bootstrap", "200"
    )
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)

    def fetch(name):
        response = client.get(f"/benchmarks/{report.public_id}/files/{name}")
        assert response.status_code == 200, name
        return response, b"".join(response.streaming_content)

    response, body = fetch("report.json")
    assert response["Content-Type"] == "application/json"
    as_json = json.loads(body)
    assert as_json["id"] == str(report.public_id)
    assert as_json["provenance"] == report.provenance
    assert {k: v for k, v in as_json.items() if k not in ("id", "provenance")} == report.data

    _, body = fetch("methods.csv")
    table = {r["method"]: r for r in csv.DictReader(io.StringIO(body.decode()))}
    assert list(table) == ["humans", "random", "centroid"]
    for name, row in methods(report).items():
        for key in FIGURES:
            assert float(table[name][key]) == pytest.approx(row[key])
            assert float(table[name][f"{key}_ci_low"]) == pytest.approx(row[f"{key}_ci"][0])
    _, body = fetch("participants.csv")
    people = list(csv.DictReader(io.StringIO(body.decode())))
    assert [p["participant"] for p in people] == [p["participant"] for p in report.data["participants"]]
    assert [float(p["test_accuracy"]) for p in people] == pytest.approx(
        [p["test_accuracy"] for p in report.data["participants"]]
    )
    _, body = fetch("confusion.csv")
    cells = list(csv.DictReader(io.StringIO(body.decode())))
    assert sum(int(c["count"]) for c in cells if c["method"] == "humans") == 16
    _, body = fetch("answers.csv")
    answers = list(csv.DictReader(io.StringIO(body.decode())))
    assert Counter(a["method"] for a in answers) == {"humans": 16, "random": 8, "centroid": 8}

    plots = [n for n in report.files if n.endswith(".png")]
    assert {
        "accuracy.png",
        "mean_points.png",
        "per_city.png",
        "predictions.png",
        "confusion_humans.png",
    } <= set(plots)
    for name in plots:
        response, body = fetch(name)
        assert response["Content-Type"] == "image/png"
        with Image.open(io.BytesIO(body)) as im:
            assert im.format == "PNG" and im.width >= 500 and im.height >= 200


def test_a_coordinate_study_reports_distances_and_a_distance_plot(bench_map):
    study = city_study(bench_map, mode=Game.COORDINATES)
    offsets = [0.0, 0.3, 4.0]
    for k, offset in enumerate(offsets):
        p = study_services.participant_join(study=study)
        play(
            p, lambda i, loc, d=offset: {"lat": loc.lat + d, "lon": loc.lon}, time_out=(4,) if k == 2 else ()
        )
    report, _ = run_benchmark(
        bench_map.slug, "--study", study.slug, "--players", "centroid", "--bootstrap", "200"
    )
    assert report.data["mode"] == "coordinates" and "distance_cdf.png" in report.files
    test = [r for r in human_answers(study) if r["phase"] == "test"]
    km = [
        None
        if r["guess"].timed_out
        else great_circle((r["location"].lat, r["location"].lon), (r["guess"].lat, r["guess"].lon)).km
        for r in test
    ]
    points = [r["guess"].points for r in test]
    centres = city_centres(bench_map)

    def nearest(lat, lon):
        return min(centres, key=lambda c: great_circle((lat, lon), centres[c]).km)

    correct = [
        not r["guess"].timed_out and nearest(r["guess"].lat, r["guess"].lon) == label(r["location"])
        for r in test
    ]
    assert_figures(methods(report)["humans"], independent_figures(km, points, correct))
    centroid = registry.load_player("centroid", bench_map)
    locations = list(Location.objects.filter(id__in=study.test_ids).order_by("id"))
    km = [great_circle((loc.lat, loc.lon), (centroid.lat, centroid.lon)).km for loc in locations]
    points = [round(5000 * 2.718281828459045 ** (-10 * d / bench_map.scale_km)) for d in km]
    right = [nearest(centroid.lat, centroid.lon) == label(loc) for loc in locations]
    assert_figures(methods(report)["centroid"], independent_figures(km, points, right))
    assert {p["metric"] for p in report.data["paired"]} == {"accuracy", "points"}


def test_a_study_without_test_answers_still_evaluates_the_models(bench_map):
    study = city_study(bench_map)
    p = study_services.participant_join(study=study)
    play(p, lambda i, loc: {"city": label(loc)}, stop_after=3)
    report, out = run_benchmark(
        bench_map.slug, "--study", study.slug, "--players", "random,centroid", "--bootstrap", "100"
    )
    humans = methods(report)["humans"]
    assert not humans["available"] and "no test answers yet" in humans["reason"]
    assert humans["accuracy"] is None and "confusion_humans.png" not in report.files
    assert methods(report)["centroid"]["available"] and methods(report)["centroid"]["accuracy"] is not None
    assert report.data["paired"] == [] and report.data["participants"][0]["practice_n"] == 3
    assert "unavailable: no test answers yet" in out


def test_without_a_study_the_maps_test_split_is_used_and_the_humans_row_says_why_it_is_empty(bench_map):
    report, _ = run_benchmark(bench_map.slug, "--players", "random", "--bootstrap", "100")
    assert report.study is None and report.data["locations"] == 12
    assert "--study" in methods(report)["humans"]["reason"]
    assert methods(report)["random"]["n"] == 12


@pytest.mark.parametrize(
    "args,message",
    [
        (["nowhere"], "unknown map 'nowhere'"),
        (["{map}", "--study", "nostudy"], "unknown study 'nostudy'"),
        (["{map}", "--players", "random,oracle"], "unknown player 'oracle'"),
        (["{map}", "--players", ","], "no players named"),
        (["{map}", "--bootstrap", "5"], "--bootstrap must be a whole number from 100"),
        (["{map}", "--bootstrap", "many"], "invalid int value: 'many'"),
        (["{map}", "--seed", "-1"], "--seed must be a whole number, 0 or more"),
    ],
)
def test_bad_arguments_are_refused_and_store_nothing(bench_map, args, message, settings):
    with pytest.raises(CommandError, match=message):
        call_command("benchmark", *[a.format(map=bench_map.slug) for a in args])
    assert not BenchmarkReport.objects.exists()
    assert not (settings.MEDIA_ROOT / "reports").exists()


def test_a_study_of_another_map_and_a_map_without_test_locations_are_refused(bench_map, fixture_map):
    study = city_study(bench_map)
    with pytest.raises(
        CommandError, match=f"study '{study.slug}' is on map '{bench_map.slug}', not '{fixture_map.slug}'"
    ):
        call_command("benchmark", fixture_map.slug, "--study", study.slug)
    Location.objects.filter(map=fixture_map).update(split=Location.TRAIN)
    with pytest.raises(CommandError, match=f"map {fixture_map.slug} has no test locations"):
        call_command("benchmark", fixture_map.slug)
    assert not BenchmarkReport.objects.exists()


def test_reports_and_their_files_are_for_staff_only_and_files_are_only_the_reports_own(
    bench_map, django_user_model
):
    report, _ = run_benchmark(bench_map.slug, "--players", "random", "--bootstrap", "100")
    urls = [
        "/benchmarks/",
        f"/benchmarks/{report.public_id}/",
        f"/benchmarks/{report.public_id}/files/report.json",
        f"/benchmarks/{report.public_id}/files/accuracy.png",
    ]
    player = django_user_model.objects.create_user("player", password="pw")
    for client in (Client(), Client()):
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302 and "/login/" in response["Location"], url
        client.force_login(player)
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert str(report.public_id) in client.get("/benchmarks/").content.decode()
    for url in urls[1:]:
        assert client.get(url).status_code == 200, url
    for name in ["settings.py", "..", "..%2F..%2Fgeogame.sqlite3", "%2Fetc%2Fpasswd", "REPORT.JSON"]:
        assert client.get(f"/benchmarks/{report.public_id}/files/{name}").status_code == 404, name
    assert client.get("/benchmarks/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert client.post(f"/benchmarks/{report.public_id}/").status_code == 405


def test_the_report_gives_each_machine_players_rating_deviation_and_games(bench_map, staff_client):
    from geogame.ranked.models import Rating
    from inference.services import machine_player_get

    call_command(
        "calibrate", bench_map.slug, "--games", "2", "--players", "random,centroid", stdout=io.StringIO()
    )
    report, out = run_benchmark(bench_map.slug, "--players", "random,centroid,ensemble", "--bootstrap", "100")
    for name in ("random", "centroid"):
        rating = Rating.objects.get(player=machine_player_get(name), map=bench_map)
        row = methods(report)[name]
        assert (row["rating"], row["rating_deviation"], row["rating_games"]) == (
            round(rating.rating),
            round(rating.deviation),
            2,
        )
        assert f"| {name} | {round(rating.rating)} | ± {round(rating.deviation)} | 2 |" in out
    assert methods(report)["ensemble"]["rating"] is None  # unavailable, never rated
    page = staff_client.get(f"/benchmarks/{report.public_id}/").content.decode()
    assert 'id="ratings"' in page and f"± {methods(report)['centroid']['rating_deviation']}" in page
    from geogame.benchmarks.report import report_path

    header = (report_path(report, "methods.csv")).read_text().splitlines()[0].split(",")
    assert {"rating", "rating_deviation", "rating_games"} <= set(header)
