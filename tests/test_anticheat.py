"""Nothing a client receives before its guess may reveal the answer.

The test plays a whole game and, before each guess, collects every response
the client gets (pages, JSON, image bytes), then scans them for the round's
coordinates, place names, source ids, attribution and EXIF.
"""

import io
import json
import re

import pytest
from django.test import Client
from PIL import Image

from geogame.models import Game, Location

pytestmark = pytest.mark.django_db

ISO_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+(?:[+-]\d\d:\d\d|Z)?")
DECIMAL = re.compile(r"-?\d+\.\d+")


def numbers_in(text):
    """Decimal numbers in a text, ignoring the digits inside ISO timestamps."""
    return [float(x) for x in DECIMAL.findall(ISO_TIMESTAMP.sub(" ", text))]


def secrets_of(loc):
    words = {loc.city, loc.country, loc.source_id, loc.attribution, loc.captured_at}
    words |= {v.sha256 for v in loc.views.all()}
    return {w for w in words if w}


def assert_reveals_nothing(text, loc, what):
    for secret in secrets_of(loc):
        assert secret not in text, f"{what} contains {secret!r}"
    for x in numbers_in(text):
        assert abs(x - loc.lat) > 0.05 and abs(x - loc.lon) > 0.05, f"{what} contains {x} near the answer"


def assert_image_is_clean(data, loc, what):
    im = Image.open(io.BytesIO(data))
    assert not im.getexif(), f"{what} carries EXIF"
    assert not im.info.get("icc_profile") and "comment" not in im.info, f"{what} carries metadata"
    for secret in secrets_of(loc) | {"SecretCam", "Mapillary", "KartaView"}:
        assert secret.encode() not in data, f"{what} contains {secret!r}"


@pytest.mark.parametrize("mode", ["coordinates", "city"])
def test_nothing_before_the_guess_reveals_the_answer(fixture_map, mode):
    client = Client()
    home = client.get("/")
    r = client.post("/", {"display_name": "Ada", "map": fixture_map.slug, "mode": mode, "time_limit": "60"})
    game = Game.objects.get(public_id=r["Location"].split("/")[2])
    play_page = client.get(r["Location"]).content.decode()
    state = client.get(f"/api/games/{game.public_id}/")
    for number in range(1, 6):
        received = [
            ("home", home.content.decode()),
            ("play page", play_page),
            ("state", state.content.decode()),
        ]
        s = state.json()
        assert s["round"]["number"] == number and s["result"] is None
        loc = Location.objects.get(rounds__game=game, rounds__index=number - 1)
        for i, view in enumerate(s["round"]["views"]):
            for kind in ("url", "thumb"):
                url = view[kind]
                assert re.fullmatch(r"/img/[A-Za-z0-9_-]{43}/\d(/thumb)?\.jpg", url), url
                received.append((f"url {url}", url))
                data = client.get(url).getvalue()
                assert_image_is_clean(data, loc, f"round {number} view {i} {kind}")
        for what, text in received:
            if mode == "city" and what == "state":
                # The candidates list names every city of the map by design; nothing else may.
                payload = json.loads(text)
                payload.pop("candidates")
                text = json.dumps(payload)
            assert_reveals_nothing(text, loc, f"round {number} {what}")

        guess = {"city": s["candidates"][0]} if mode == "city" else {"lat": 0.0, "lon": 0.0}
        after = client.post(s["round"]["guess_url"], json.dumps(guess), content_type="application/json")
        assert after.json()["result"]["answer"]["lat"] == loc.lat  # revealed only now
        state = client.post(s["next_url"])


def test_image_urls_differ_per_round_even_for_the_same_location(fixture_map):
    """A URL must not become a name for a location that players could learn."""
    seen = {}
    n_locations = Location.objects.filter(map=fixture_map).count()
    for _ in range(n_locations + 1):  # pigeonhole: some location repeats
        client = Client()
        r = client.post("/", {"display_name": "A", "map": fixture_map.slug, "mode": "coordinates"})
        game = Game.objects.get(public_id=r["Location"].split("/")[2])
        url = client.get(f"/api/games/{game.public_id}/").json()["round"]["views"][0]["url"]
        loc_id = game.rounds.get().location_id
        if loc_id in seen:
            assert url != seen[loc_id]
            return
        seen[loc_id] = url
    pytest.fail("no location repeated")


def without_candidates(text):
    """The JSON text without its candidates list, which names every city of the map by design."""
    payload = json.loads(text)
    payload.pop("candidates", None)
    return json.dumps(payload)


@pytest.mark.parametrize("mode", ["coordinates", "city"])
def test_a_study_participant_learns_nothing_before_a_guess_nor_after_a_test_guess(study_map, mode):
    from geogame.study_services import study_create

    study = study_create(
        map=study_map, name="S", consent_text="ok", mode=mode, practice_count=1, test_count=3, time_limit_s=60
    )
    client = Client()
    join_page = client.get(f"/study/{study.link_token}/").content.decode()
    r = client.post(f"/study/{study.link_token}/", {"consent": "yes"})
    play_page = client.get(r["Location"]).content.decode()
    pid = r["Location"].split("/")[3]
    state = client.get(f"/api/study/p/{pid}/")
    for index in range(4):
        s = state.json()
        assert s["round"]["index"] == index and s["result"] is None
        loc = Location.objects.get(rounds__game__participant__public_id=pid, rounds__index=index)
        received = [
            ("join page", join_page),
            ("play page", play_page),
            ("state", without_candidates(state.content)),
        ]
        for i, view in enumerate(s["round"]["views"]):
            assert re.fullmatch(r"/img/[A-Za-z0-9_-]{43}/\d\.jpg", view["url"]), view["url"]
            assert_image_is_clean(client.get(view["url"]).getvalue(), loc, f"trial {index} view {i}")
        guess = {"city": s["candidates"][0]} if mode == "city" else {"lat": 0.0, "lon": 0.0}
        after = client.post(s["round"]["guess_url"], json.dumps(guess), content_type="application/json")
        assert after.status_code == 201
        if index >= study.practice_count:  # a test trial: its answer stays hidden
            received.append(("guess reply", without_candidates(after.content)))
            received.append(("state after", without_candidates(client.get(f"/api/study/p/{pid}/").content)))
        else:
            assert after.json()["result"]["answer"]["lat"] == loc.lat
        for what, text in received:
            assert_reveals_nothing(text, loc, f"trial {index} {what}")
        state = client.post(s["next_url"])
