"""The Street View and Mapillary clients against fake APIs on loopback (tests/fake_geo_apis.py).

No request leaves the machine; backoff sleeps are recorded instead of slept, so only the
deliberately slow answer takes real time.
"""

import io
import random
import time

import pytest
from PIL import Image

from geogame.maps.providers import mapillary, streetview
from geogame.maps.providers.common import AuthError as ProviderAuthError
from geogame.maps.providers.common import (
    Budget,
    HttpClient,
    NoImagery,
    ProviderError,
    QuotaExceeded,
    RateLimiter,
    TransientError,
)
from tests import fake_geo_apis as fake

KEY, TOKEN = fake.STREETVIEW_KEY, fake.MAPILLARY_TOKEN


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def apis():
    server, stop = fake.start()
    yield server
    stop()


class Sleeps(list):
    """An injected sleep: records the delays instead of waiting."""

    def __call__(self, seconds):
        self.append(seconds)


def client(**kwargs):
    kwargs.setdefault("sleep", Sleeps())
    kwargs.setdefault("rng", random.Random(0))
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("retries", 3)
    return HttpClient(**kwargs)


def sv(apis, key=KEY, **kwargs):
    return streetview.StreetView(key, http=client(**kwargs), base_url=apis.streetview_url, size=(128, 128))


def mly(apis, token=TOKEN, **kwargs):
    return mapillary.Mapillary(token, http=client(**kwargs), base_url=apis.base_url)


def image_size(data):
    return Image.open(io.BytesIO(data)).size


# Street View: metadata


def test_metadata_snaps_a_point_to_the_nearest_panorama_with_the_real_parameters(apis):
    pano = sv(apis).find(48.10011, 9.20042)

    assert pano.pano_id == "pano_24050_4600"
    assert (pano.lat, pano.lon) == pytest.approx((48.1, 9.2))
    assert (pano.date, pano.copyright) == ("2019-05", "© Google")
    assert apis.params("metadata") == [
        {"location": "48.100110,9.200420", "radius": "50", "source": "outdoor", "key": KEY},
    ]


def test_zero_results_means_there_is_no_panorama_near_the_point(apis):
    apis.covered = lambda lat, lon: lat > 0

    assert sv(apis).find(-33.9, 18.4) is None
    apis.faults["metadata"].append("ZERO_RESULTS")
    assert sv(apis).find(48.1, 9.2) is None
    assert apis.count("metadata") == 2  # not retried: an answer, not a failure


def test_an_invalid_key_is_refused_naming_the_variable_and_never_showing_the_key(apis):
    bad = "AIzaWRONG-key-42"

    with pytest.raises(ProviderAuthError) as info:
        sv(apis, key=bad).find(48.1, 9.2)

    message = str(info.value)
    assert (
        message
        == "Street View refused the key in GEOGAME_STREETVIEW_KEY (REQUEST_DENIED: "
        + fake.DENIED_KEY_MESSAGE.strip()
        + ")"
    )
    assert bad not in message
    assert apis.count("metadata") == 1  # a refused key is not retried


def test_a_missing_key_is_refused_before_any_request(apis):
    with pytest.raises(ProviderAuthError, match="set GEOGAME_STREETVIEW_KEY"):
        sv(apis, key="")
    with pytest.raises(ProviderAuthError, match="set GEOGAME_MAPILLARY_TOKEN"):
        mly(apis, token="")
    assert apis.requests == []


def test_over_query_limit_is_retried_with_growing_backoff_then_reported_as_quota(apis):
    apis.quota["streetview"] = 0
    sleeps = Sleeps()

    with pytest.raises(QuotaExceeded, match="OVER_QUERY_LIMIT: You have exceeded your daily request quota"):
        sv(apis, sleep=sleeps, backoff_s=1.0).find(48.1, 9.2)

    assert apis.count("metadata") == 4  # the first try and 3 retries
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):  # exponential, with up to half of it random
        assert 2**attempt / 2 <= delay <= 2**attempt


def test_backoff_honours_retry_after_and_its_cap():
    http = client(backoff_s=1.0, backoff_max_s=8.0)

    assert http.backoff(0, retry_after=5) == 5
    assert http.backoff(10) <= 8.0
    assert http.backoff(10, retry_after=600) == 8.0


def test_a_500_and_a_429_are_retried_and_the_answer_then_used(apis):
    apis.faults["metadata"].extend(["http500", "http429", "UNKNOWN_ERROR"])
    sleeps = Sleeps()

    pano = sv(apis, sleep=sleeps).find(48.1, 9.2)

    assert pano.pano_id == "pano_24050_4600"
    assert apis.count("metadata") == 4 and len(sleeps) == 3


def test_a_cut_off_json_answer_is_retried(apis):
    apis.faults["metadata"].append("truncate")

    assert sv(apis).find(48.1, 9.2).pano_id == "pano_24050_4600"
    assert apis.count("metadata") == 2


def test_a_slow_answer_times_out_and_is_retried(apis):
    apis.slow_s = 0.5
    apis.faults["metadata"].append("slow")
    started = time.monotonic()

    pano = sv(apis, timeout=0.2).find(48.1, 9.2)

    assert pano is not None and apis.count("metadata") == 2
    assert time.monotonic() - started < 2.0


def test_an_unreachable_api_gives_a_transient_error_without_the_key(apis):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client_ = streetview.StreetView(KEY, http=client(retries=1), base_url=f"http://127.0.0.1:{port}/x")

    with pytest.raises(TransientError, match=f"failed 2 times, last: cannot reach 127.0.0.1:{port}") as info:
        client_.find(1.0, 2.0)
    assert KEY not in str(info.value)


# Street View: images


def test_three_views_at_h_h120_h240_with_fov_120_and_the_configured_size(apis):
    s = sv(apis)
    pano = s.find(48.1, 9.2)

    capture = s.fetch(pano, 300.0)

    assert [im.heading for im in capture.images] == [300.0, 60.0, 180.0]
    assert [image_size(im.data) for im in capture.images] == [(128, 128)] * 3
    assert apis.params("image") == [
        {
            "pano": pano.pano_id,
            "size": "128x128",
            "heading": h,
            "fov": "120",
            "pitch": "0",
            "source": "outdoor",
            "return_error_code": "true",
            "key": KEY,
        }
        for h in ("300", "60", "180")
    ]
    assert (capture.source, capture.source_id) == ("streetview", pano.pano_id)
    assert capture.projection == "perspective"
    assert (capture.captured_at, capture.attribution) == ("2019-05", "© Google")
    assert capture.license == streetview.LICENSE


def test_the_default_image_size_is_640x640():
    s = streetview.StreetView(KEY, http=client())
    assert s.size == (640, 640) and s.base_url == "https://maps.googleapis.com/maps/api/streetview"


def test_a_third_party_panorama_credits_google_and_its_photographer(apis):
    apis.copyright = "© Jane Doe"
    s = sv(apis)

    assert s.fetch(s.find(48.1, 9.2), 0.0).attribution == "© Google; © Jane Doe"


def test_a_truncated_image_is_fetched_again(apis):
    s = sv(apis)
    pano = s.find(48.1, 9.2)
    apis.faults["image"].extend(["truncate", "http503"])

    capture = s.fetch(pano, 0.0)

    assert apis.count("image") == 5
    assert all(image_size(im.data) == (128, 128) for im in capture.images)


def test_an_image_that_stays_truncated_gives_up(apis):
    s = sv(apis, retries=2)
    pano = s.find(48.1, 9.2)
    apis.faults["image"].extend(["truncate"] * 3)

    with pytest.raises(TransientError, match=r"failed 3 times, last: response cut off after \d+ of \d+"):
        s.fetch(pano, 0.0)


def test_image_requests_with_a_bad_key_or_over_the_daily_quota_are_told_apart(apis):
    s = sv(apis)
    pano = s.find(48.1, 9.2)
    apis.keys.clear()

    with pytest.raises(ProviderAuthError, match="refused the key in GEOGAME_STREETVIEW_KEY .*HTTP 403"):
        s.fetch(pano, 0.0)

    apis.keys.add(KEY)
    apis.quota["streetview"] = 0
    with pytest.raises(QuotaExceeded, match="quota exceeded .*HTTP 403"):
        s.fetch(pano, 0.0)


def test_the_request_budget_is_never_exceeded(apis):
    s = streetview.StreetView(KEY, http=client(budget=Budget(2)), base_url=apis.streetview_url)
    s.find(48.1, 9.2)
    s.find(48.2, 9.2)

    with pytest.raises(QuotaExceeded, match="request budget of 2 requests is spent"):
        s.find(48.3, 9.2)
    assert apis.count("metadata") == 2
    assert s.http.budget.counts == {"metadata": 2}


def test_the_rate_limiter_spaces_request_starts():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()

    assert slept == pytest.approx([0.25] * 4)
    now[0] += 10.0  # idle for a while: no wait, and no burst allowance either
    limiter.wait()
    assert len(slept) == 4


def test_secrets_are_scrubbed_raw_and_url_encoded():
    http = HttpClient(secrets=[TOKEN])

    scrubbed = http.scrub(f"GET /images?access_token=MLY%7C4242%7Cfake-token-abcdef failed for {TOKEN}")

    assert "fake-token" not in scrubbed and scrubbed.count("***") == 2


# Mapillary


def add_sequence(apis, seq, angles, *, lat=48.1, lon=9.2, first_id=1, creator="alice", step=0.00002):
    for k, angle in enumerate(angles):
        apis.add_mapillary_image(str(first_id + k), lat + k * step, lon, angle, sequence=seq, creator=creator)


def test_the_search_sends_the_real_parameters(apis):
    m = mly(apis)

    assert m.search(48.1, 9.2) == []

    (params,) = apis.params("search")
    assert params["access_token"] == TOKEN
    assert params["fields"] == "id,geometry,compass_angle,is_pano,sequence,creator,captured_at,thumb_2048_url"
    assert params["limit"] == "100"
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in params["bbox"].split(","))
    assert min_lon < 9.2 < max_lon and min_lat < 48.1 < max_lat
    assert (max_lat - min_lat) * 111.2 == pytest.approx(0.2, rel=0.01)  # 100 m either side


def test_no_images_near_the_point_means_no_imagery(apis):
    add_sequence(apis, "far", [0.0], lat=49.0)

    assert mly(apis).find(48.1, 9.2) is None


def test_a_panorama_is_preferred_to_nearer_perspective_images(apis):
    add_sequence(apis, "s", [0.0, 120.0, 240.0])
    apis.add_mapillary_image("p1", 48.1006, 9.2, 33.0, is_pano=True, sequence="pano-seq", creator="bob")

    pick = mly(apis).find(48.1, 9.2)

    assert pick.is_pano and [im.id for im in pick.images] == ["p1"]
    capture = mly(apis).fetch(pick)
    assert capture.projection == "equirectangular"
    assert [(im.heading, image_size(im.data)) for im in capture.images] == [(33.0, (512, 256))]


def test_three_images_of_one_sequence_about_120_degrees_apart_are_chosen(apis):
    add_sequence(apis, "s", [10.0, 15.0, 128.0, 300.0, 251.0, 100.0])

    pick = mly(apis).find(48.1, 9.2)

    assert not pick.is_pano
    assert [(im.id, im.compass_angle) for im in pick.images] == [("1", 10.0), ("3", 128.0), ("5", 251.0)]


def test_views_too_far_from_120_degrees_apart_are_left_out(apis):
    add_sequence(apis, "s", [10.0, 60.0, 330.0])

    pick = mly(apis).find(48.1, 9.2)

    assert [im.id for im in pick.images] == ["1"]


def test_images_of_other_sequences_are_not_mixed_in_and_the_best_spread_sequence_wins(apis):
    add_sequence(apis, "one-way", [90.0, 91.0, 92.0], first_id=1)  # nearest, but all facing east
    add_sequence(apis, "turning", [0.0, 120.0, 240.0], lat=48.1003, first_id=10)

    pick = mly(apis).find(48.1, 9.2)

    assert [im.id for im in pick.images] == ["10", "11", "12"]
    assert {im.sequence for im in pick.images} == {"turning"}


def test_the_capture_keeps_image_ids_creators_date_and_the_cc_by_sa_licence(apis):
    add_sequence(apis, "s", [0.0, 120.0], creator="carol")

    capture = mly(apis).fetch(mly(apis).find(48.1, 9.2))

    assert (capture.source, capture.source_id, capture.image_ids) == ("mapillary", "1", ("1", "2"))
    assert capture.license == "CC BY-SA 4.0"
    assert capture.attribution == (
        "© carol via Mapillary, CC BY-SA 4.0 (image 1, 2: https://www.mapillary.com/app/?pKey=1)"
    )
    assert capture.captured_at == "2020-09-13"
    assert [im.heading for im in capture.images] == [0.0, 120.0]


def test_an_invalid_token_is_refused_naming_the_variable_and_never_showing_the_token(apis):
    bad = "MLY|1|wrong-token"

    with pytest.raises(ProviderAuthError) as info:
        mly(apis, token=bad).find(48.1, 9.2)

    assert str(info.value).startswith("Mapillary refused the token in GEOGAME_MAPILLARY_TOKEN (HTTP 401:")
    assert "code 190" in str(info.value) and "wrong-token" not in str(info.value)
    assert apis.count("search") == 1


def test_the_rate_limit_is_retried_then_reported_as_quota(apis):
    apis.quota["mapillary"] = 0
    sleeps = Sleeps()

    with pytest.raises(QuotaExceeded, match="Application request limit reached"):
        mly(apis, sleep=sleeps).find(48.1, 9.2)
    assert apis.count("search") == 4 and len(sleeps) == 3


def test_500s_slow_and_cut_off_answers_are_retried(apis):
    add_sequence(apis, "s", [0.0])
    apis.slow_s = 0.5
    apis.faults["search"].extend(["http500", "slow", "truncate"])
    apis.faults["thumb"].extend(["truncate", "http503"])
    m = mly(apis, timeout=0.2)

    capture = m.fetch(m.find(48.1, 9.2))

    assert apis.count("search") == 4 and apis.count("thumb") == 3
    assert image_size(capture.images[0].data) == (320, 240)


def test_a_thumbnail_that_is_gone_means_no_imagery(apis):
    add_sequence(apis, "s", [0.0])
    m = mly(apis)
    pick = m.find(48.1, 9.2)
    apis.thumbs.clear()

    with pytest.raises(NoImagery, match="Mapillary image 1 answered HTTP 404"):
        m.fetch(pick)


def test_a_request_the_api_rejects_is_a_provider_error(apis):
    m = mapillary.Mapillary(TOKEN, http=client(), base_url=apis.base_url, limit=0)

    with pytest.raises(ProviderError, match=r"Mapillary rejected the search \(HTTP 400: .*Invalid parameter"):
        m.find(48.1, 9.2)
    assert apis.count("search") == 1
