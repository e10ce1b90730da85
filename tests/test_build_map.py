"""Building maps end to end against the fake Street View and Mapillary APIs on loopback.

The builder reads its key, token and base URLs from settings, pointed here at tests/fake_geo_apis;
backoff is set to 0 s so that retries run at once.
"""

import io
import json
import re
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from PIL import Image

from geogame.common import background
from geogame.maps import builder
from geogame.maps import regions as R
from geogame.maps.models import BuildPoint, Location, Map, MapBuild, View
from geogame.maps.providers.common import ERR_BUDGET
from geogame.maps.tasks import build_map as build_map_task
from tests import fake_geo_apis as fake

pytestmark = pytest.mark.django_db

KEY, TOKEN = fake.STREETVIEW_KEY, fake.MAPILLARY_TOKEN
TWO_CITIES = (
    "name,country,lat,lon,radius_km\nStuttgart,Germany,48.7758,9.1829,2\nOrleans,France,47.9022,1.9104,2\n"
)


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def apis(settings):
    server, stop = fake.start()
    settings.GOOGLE_STREETVIEW_KEY = KEY
    settings.MAPILLARY_TOKEN = TOKEN
    settings.GEOGAME_STREETVIEW_URL = server.streetview_url
    settings.GEOGAME_MAPILLARY_URL = server.base_url
    settings.GEOGAME_BUILD_BACKOFF_S = 0.0
    settings.GEOGAME_BUILD_RETRIES = 2
    settings.GEOGAME_BUILD_TIMEOUT_S = 5.0
    settings.GEOGAME_STREETVIEW_RPS = 0
    settings.GEOGAME_MAPILLARY_RPS = 0
    yield server
    stop()


@pytest.fixture
def cities_csv(tmp_path):
    path = tmp_path / "cities.csv"
    path.write_text(TWO_CITIES)
    return str(path)


def run_command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("build_map", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def sv_build(name="Two cities", per_region=3, regions=None, **kwargs):
    kwargs.setdefault("size", (128, 128))
    regions = regions or R.parse_regions(TWO_CITIES)
    build = builder.map_build_start(
        name=name, provider="streetview", regions=regions, per_region=per_region, seed=1, **kwargs
    )
    return builder.map_build_run(build=build)


def db_text():
    """Everything the builder wrote to the database, as text."""
    rows = [list(model.objects.values()) for model in (MapBuild, BuildPoint, Location, Map)]
    return json.dumps(rows, default=str)


def stored_image(view):
    with default_storage.open(view.image.name) as fh:
        data = fh.read()
    return data, Image.open(io.BytesIO(data))


# Street View, end to end


def test_the_command_builds_a_street_view_map_with_three_views_per_location(apis, cities_csv):
    out, err = run_command(
        "Two cities",
        "--provider",
        "streetview",
        "--regions",
        cities_csv,
        "--per-region",
        "3",
        "--size",
        "128x128",
        "--progress",
    )

    m = Map.objects.get(slug="two-cities")
    assert m.kind == Map.CITY and "© Google" in m.attribution
    locations = list(m.locations.order_by("id"))
    assert len(locations) == 6
    assert sorted(loc.city for loc in locations) == ["Orleans"] * 3 + ["Stuttgart"] * 3
    for loc in locations:
        assert loc.source == "streetview" and loc.source_id.startswith("pano_")
        assert (loc.license, loc.attribution, loc.captured_at) == (
            "Google Street View (Google Maps Platform terms)",
            "© Google",
            "2019-05",
        )
        headings = [v.heading for v in loc.views.order_by("index")]
        assert len(headings) == 3
        assert [(h - headings[0]) % 360 for h in headings] == pytest.approx([0, 120, 240])
        for view in loc.views.all():
            data, im = stored_image(view)
            assert im.size == (128, 128) and (view.width, view.height) == (128, 128)
            assert not im.getexif() and b"FakeStreetCam" not in data  # EXIF stripped, as on import
    build = MapBuild.objects.get()
    assert (build.status, build.found, build.progress) == (MapBuild.DONE, 6, 1.0)
    assert apis.count("image") == 18 and apis.count("metadata") == build.tried
    assert "requested 6 locations (2 region(s) x 3); found 6" in out
    assert f"requests: 18 image, {build.tried} metadata" in out
    assert "6/6" in err  # the progress bar
    assert KEY not in db_text()


def test_points_near_each_other_share_a_panorama_which_is_stored_once(apis):
    apis.lattice_deg = 1.0  # one panorama for the whole city

    build = sv_build(regions=[R.Region.circle("Stuttgart", 48.7758, 9.1829, 2)], per_region=3)

    assert Location.objects.count() == 1
    assert build.summary["skipped"]["duplicate"] == 8 and build.tried == 9  # 3 tries per location asked for
    assert build.summary["regions_short"] == ["Stuttgart"]
    assert apis.count("image") == 3  # a known panorama's images are never asked for again
    assert build.status == MapBuild.DONE


def test_points_without_imagery_are_skipped_and_counted(apis):
    apis.covered = lambda lat, lon: lon > 5  # Orleans (1.9 E) has no Street View here

    build = sv_build(per_region=2)

    assert build.found == 2 and build.summary["skipped"]["no_imagery"] == 6
    assert build.summary["regions_short"] == ["Orleans"]
    assert set(BuildPoint.objects.filter(outcome="no_imagery").values_list("detail", flat=True)) == {
        "no imagery within 50 m"
    }
    assert apis.count("image") == 6


def test_fetched_images_pass_the_same_checks_as_an_import(apis, settings):
    apis.faults["image"].append("corrupt")  # a whole answer, but half a JPEG

    build = sv_build(per_region=1)

    rejected = BuildPoint.objects.get(outcome="rejected")
    assert rejected.detail.startswith("image is corrupt or truncated")
    assert not Location.objects.filter(source_id=rejected.source_id).exists()
    assert build.found == 2 and build.summary["skipped"]["rejected"] == 1

    settings.GEOGAME_MAX_IMAGE_BYTES = 1000
    build = sv_build(name="Tiny limit", per_region=1)
    assert build.found == 0
    details = BuildPoint.objects.filter(build=build).values_list("detail", flat=True)
    assert details and all(re.fullmatch(r"file is \d+ bytes; the limit is 1000", d) for d in details)


def test_a_point_that_keeps_failing_is_an_error_and_the_build_goes_on(apis):
    apis.faults["metadata"].extend(["http500"] * 3)  # all three tries of the first point

    build = sv_build(per_region=1)

    error = BuildPoint.objects.get(outcome="error")
    assert error.detail.startswith("Street View metadata failed 3 times, last: HTTP 500 from 127.0.0.1:")
    assert (build.status, build.found, build.summary["skipped"]["error"]) == (MapBuild.DONE, 2, 1)


def test_slow_answers_and_truncated_images_are_retried_within_a_build(apis, settings):
    settings.GEOGAME_BUILD_TIMEOUT_S = 0.2
    settings.GEOGAME_BUILD_RETRIES = 3
    apis.slow_s = 0.5
    apis.faults["metadata"].append("slow")
    apis.faults["image"].extend(["truncate", "http503", "truncate"])

    build = sv_build(per_region=1)

    assert (build.status, build.found) == (MapBuild.DONE, 2)
    assert build.summary["skipped"] == {"duplicate": 0, "no_imagery": 0, "rejected": 0, "error": 0}
    assert apis.count("image") == 6 + 3


# Stopping and resuming


def test_a_build_stopped_by_the_quota_resumes_without_duplicates_or_asking_again(apis, cities_csv):
    args = (
        "Resumed",
        "--provider",
        "streetview",
        "--regions",
        cities_csv,
        "--per-region",
        "4",
        "--size",
        "128x128",
        "--no-progress",
    )
    apis.quota["streetview"] = 25  # runs out in the middle of the second city

    with pytest.raises(CommandError, match=r"build \d+ stopped: .*quota.*the same command resumes it"):
        run_command(*args)

    build = MapBuild.objects.get()
    assert build.status == MapBuild.STOPPED and 0 < build.found < 8
    finished = {f"{p.lat:.6f},{p.lon:.6f}" for p in BuildPoint.objects.filter(outcome__in=BuildPoint.FINAL)}
    stored_before = set(Location.objects.values_list("source_id", flat=True))
    assert len(stored_before) == build.found
    first_run = len(apis.requests)
    apis.quota["streetview"] = None

    out, _ = run_command(*args)

    build.refresh_from_db()
    assert (build.status, build.found) == (MapBuild.DONE, 8) and MapBuild.objects.count() == 1
    assert "found 8" in out
    asked_again = {p["location"] for p in apis.params("metadata")[first_run:]} & finished
    assert asked_again == set()  # no finished point was requested again
    again_images = {p["pano"] for p in apis.params("image")[first_run:]}
    assert not again_images & stored_before  # nor a stored panorama's images
    # The same locations as a build that was never interrupted.
    resumed = sorted(Location.objects.filter(map=build.map).values_list("source_id", flat=True))
    call_command("build_map", "Uninterrupted", *args[1:], stdout=io.StringIO())
    uninterrupted = Map.objects.get(slug="uninterrupted")
    assert sorted(uninterrupted.locations.values_list("source_id", flat=True)) == resumed


def test_the_request_budget_stops_a_build_and_a_larger_one_resumes_it(apis, cities_csv):
    args = [
        "Budget",
        "--provider",
        "streetview",
        "--regions",
        cities_csv,
        "--per-region",
        "2",
        "--size",
        "128x128",
        "--no-progress",
    ]

    with pytest.raises(CommandError, match=re.escape(ERR_BUDGET.format(limit=10))):
        run_command(*args, "--max-requests", "10")
    assert len(apis.requests) == 10

    run_command(*args, "--max-requests", "100")

    build = MapBuild.objects.get()
    assert (build.status, build.found) == (MapBuild.DONE, 4)
    assert sum(build.summary["requests"].values()) == len(apis.requests) <= 100


def test_a_provider_that_keeps_failing_stops_the_build_which_then_resumes(apis):
    apis.faults["metadata"].extend(["http500"] * (3 * builder.MAX_CONSECUTIVE_ERRORS))

    build = sv_build(per_region=2)

    assert build.status == MapBuild.STOPPED
    assert build.error.startswith(f"the provider failed {builder.MAX_CONSECUTIVE_ERRORS} points in a row")
    assert BuildPoint.objects.filter(outcome="error").count() == builder.MAX_CONSECUTIVE_ERRORS

    build = builder.map_build_run(build=build)

    assert (build.status, build.found) == (MapBuild.DONE, 4)
    retried = BuildPoint.objects.filter(build=build, region_index=0, point_index__lt=2)
    assert not retried.filter(outcome="error").exists()


def test_rerunning_a_finished_build_asks_for_nothing_and_more_per_region_continues_it(apis, cities_csv):
    args = [
        "Again",
        "--provider",
        "streetview",
        "--regions",
        cities_csv,
        "--size",
        "128x128",
        "--no-progress",
    ]
    run_command(*args, "--per-region", "2")
    n = len(apis.requests)

    out, _ = run_command(*args, "--per-region", "2")

    assert len(apis.requests) == n and "found 4" in out

    run_command(*args, "--per-region", "3")
    assert MapBuild.objects.count() == 1 and Location.objects.count() == 6
    assert apis.count("image") == 18


def test_a_refused_key_fails_the_build_naming_the_variable_not_the_key(apis, settings, cities_csv):
    settings.GOOGLE_STREETVIEW_KEY = "AIzaNOT-a-valid-key"

    with pytest.raises(CommandError, match="failed: Street View refused the key in GEOGAME_STREETVIEW_KEY"):
        run_command(
            "Denied",
            "--provider",
            "streetview",
            "--regions",
            cities_csv,
            "--per-region",
            "1",
            "--no-progress",
        )

    assert MapBuild.objects.get().status == MapBuild.FAILED
    assert "AIzaNOT-a-valid-key" not in db_text()


# Mapillary, end to end


def test_a_mapillary_map_cuts_panoramas_into_three_views_and_credits_creators(apis):
    apis.add_mapillary_image("501", 48.77580, 9.18290, 30.0, is_pano=True, sequence="p", creator="dora")
    for k, angle in enumerate([200.0, 320.0, 80.0]):
        apis.add_mapillary_image(f"60{k}", 47.9022 + k * 0.00002, 1.9104, angle, sequence="s", creator="eve")
    regions = [
        R.Region.circle("Stuttgart", 48.7758, 9.1829, 0.05, country="Germany"),
        R.Region.circle("Orleans", 47.9022, 1.9104, 0.05, country="France"),
    ]
    build = builder.map_build_start(
        name="Mapillary cities", provider="mapillary", regions=regions, per_region=1, size=(128, 128)
    )

    build = builder.map_build_run(build=build)

    assert (build.status, build.found) == (MapBuild.DONE, 2)
    pano = Location.objects.get(source_id="501")
    assert (pano.source, pano.city, pano.country) == ("mapillary", "Stuttgart", "Germany")
    assert pano.license == "CC BY-SA 4.0"
    assert pano.attribution.startswith("© dora via Mapillary, CC BY-SA 4.0 (image 501")
    assert [v.heading for v in pano.views.order_by("index")] == [30.0, 150.0, 270.0]
    assert all(stored_image(v)[1].size == (128, 128) for v in pano.views.all())
    trio = Location.objects.get(source_id="600")
    assert [v.heading for v in trio.views.order_by("index")] == [200.0, 320.0, 80.0]
    assert trio.attribution.startswith("© eve via Mapillary, CC BY-SA 4.0 (image 600, 601, 602")
    assert all(not stored_image(v)[1].getexif() for v in View.objects.all())
    assert TOKEN not in db_text() and "fake-token" not in db_text()


def test_a_mapillary_panorama_that_is_not_2_to_1_is_rejected(apis):
    apis.add_mapillary_image("9", 48.7758, 9.1829, 0.0, is_pano=True, size=(300, 200))
    region = R.Region.circle("Stuttgart", 48.7758, 9.1829, 0.05)
    build = builder.map_build_start(
        name="Odd pano", provider="mapillary", regions=[region], per_region=1, tries_per_location=1
    )

    build = builder.map_build_run(build=build)

    assert build.found == 0
    assert BuildPoint.objects.get().detail == (
        "declared equirectangular but the image is 300x200 (expected 2:1)"
    )


# Bad arguments


@pytest.mark.parametrize(
    "args, message",
    [
        (["--provider", "bing"], "argument --provider: invalid choice: 'bing'"),
        (["--per-region", "0"], builder.ERR_PER_REGION.format(value=0)),
        (["--per-region", "-2"], builder.ERR_PER_REGION.format(value=-2)),
        (["--size", "640"], builder.ERR_SIZE.format(value="640")),
        (["--size", "4000x4000"], builder.ERR_SIZE.format(value="4000x4000")),
        (["--regions", "preset:moon"], "unknown preset 'preset:moon'"),
        (["--regions", "/no/such/regions.csv"], "regions file /no/such/regions.csv not found"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(apis, cities_csv, args, message):
    base = {"--provider": "streetview", "--regions": cities_csv, "--per-region": "2"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))

    with pytest.raises(CommandError) as info:
        run_command("Bad", *[x for kv in base.items() for x in kv])

    assert message in str(info.value)
    assert not MapBuild.objects.exists() and apis.requests == []


def test_a_bad_regions_file_names_its_rows(apis, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,lat,lon,radius_km\nGood,1,2,3\nBad,100,2,3\n,1,2,3\n")

    message = "2 bad row(s): row 3: latitude 100.0 is outside [-90, 90]; row 4: column 'name' is empty"
    with pytest.raises(CommandError, match=re.escape(message)):
        run_command("Bad", "--provider", "streetview", "--regions", str(path), "--per-region", "1")


@pytest.mark.parametrize(
    "provider, setting, variable",
    [
        ("streetview", "GOOGLE_STREETVIEW_KEY", "GEOGAME_STREETVIEW_KEY"),
        ("mapillary", "MAPILLARY_TOKEN", "GEOGAME_MAPILLARY_TOKEN"),
    ],
)
def test_a_missing_key_names_the_environment_variable(
    apis, settings, cities_csv, provider, setting, variable
):
    setattr(settings, setting, "")

    with pytest.raises(CommandError, match=f"set {variable}$"):
        run_command("No key", "--provider", provider, "--regions", cities_csv, "--per-region", "1")
    assert not MapBuild.objects.exists()


# The task and the staff page


def test_the_task_is_registered_and_leaves_done_or_busy_builds_alone(apis):
    from config.celery import app

    app.loader.import_default_modules()
    assert "geogame.build_map" in app.tasks and app.tasks["geogame.build_map"].acks_late

    done = sv_build(per_region=1)
    n = len(apis.requests)
    assert build_map_task(done.id) == MapBuild.DONE and len(apis.requests) == n

    busy = builder.map_build_start(
        name="Busy", provider="streetview", regions=R.parse_regions(TWO_CITIES), per_region=1
    )
    MapBuild.objects.filter(id=busy.id).update(status=MapBuild.RUNNING, heartbeat_at=timezone.now())
    assert build_map_task(busy.id) == MapBuild.RUNNING and len(apis.requests) == n

    MapBuild.objects.filter(id=busy.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert build_map_task(busy.id) == MapBuild.DONE  # its worker died: taken over and finished


@pytest.mark.django_db(transaction=True)
def test_staff_start_a_build_from_the_page_and_watch_it_finish(apis, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/builds/").status_code == 200

    r = client.post(
        "/builds/",
        {
            "name": "Seed 003",
            "provider": "streetview",
            "preset": "seed003",
            "per_region": "1",
            "seed": "3",
            "size": "128x128",
        },
    )

    assert r.status_code == 302
    background.wait_local(timeout=60)
    (status,) = client.get("/api/builds/").json()["builds"]
    assert (status["status"], status["found"], status["requested"], status["progress"]) == ("done", 8, 8, 1.0)
    assert sorted(Location.objects.values_list("city", flat=True)) == sorted(c[0] for c in R.SEED003_CITIES)
    page = client.get("/builds/").content.decode()
    assert "Seed 003" in page and "done" in page


def test_the_page_refuses_bad_forms_paths_and_non_staff(apis, django_user_model):
    anonymous = Client()
    assert anonymous.get("/builds/").status_code == 302
    assert anonymous.post("/builds/", {"name": "X"}).status_code == 302
    assert anonymous.get("/api/builds/").status_code == 302
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    form = {"name": "X", "provider": "streetview", "regions": TWO_CITIES, "per_region": "2"}

    for change, message in [
        ({"per_region": "many"}, "per-region must be a positive number of locations, got &#x27;many&#x27;"),
        ({"provider": "bing"}, "unknown provider"),
        ({"regions": "name,lat,lon,radius_km\nA,1,2,-1\n"}, "row 2: radius_km must be more than 0"),
        ({"preset": "/etc/passwd"}, "unknown preset"),  # never read as a path
    ]:
        r = client.post("/builds/", {**form, **change})
        assert r.status_code == 400 and message in r.content.decode(), change
    assert not MapBuild.objects.exists() and apis.requests == []
