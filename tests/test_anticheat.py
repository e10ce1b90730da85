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
