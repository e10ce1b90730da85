"""The pannable 360-degree view (issue 16): a map setting offers it for places imported from an
equirectangular panorama, besides the three fixed headings. Its bytes follow the fair-contest
rules of the views: a per-round opaque URL, a per-round rendering (turned round, re-encoded, no
metadata), only to the round's player; never in a study or a duel."""

import csv
import io

import pytest
from django.test import Client
from django.utils import timezone
from PIL import Image, ImageDraw

from geogame.game import selectors, services
from geogame.game.models import Round
from geogame.game.round_images import PANORAMA_SIZE
from geogame.maps.importer import PANORAMA_STORED_SIZE, import_map, store_bytes, stored_panorama
from geogame.maps.models import Location, Map
from harness.fixture_map import make_image_bytes
from players.models import Player
from tests.test_anticheat import assert_image_is_clean, new_game
from tests.test_study import join, make_study, state

pytestmark = pytest.mark.django_db


def panorama_jpeg(size, exif_text=None):
    """A 2:1 picture with something to see (bands of colour and a few shapes), optionally with the
    EXIF a camera writes."""
    w, h = size
    im = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for k in range(12):
        x = k * w // 12
        draw.rectangle([x, h // 3, x + w // 30, h // 2], fill=(40 * k % 255, 120, 200))
    buf = io.BytesIO()
    kwargs = {}
    if exif_text:
        exif = Image.Exif()
        exif[0x010E] = exif_text
        exif[0x010F] = "SecretCam"
        kwargs["exif"] = exif.tobytes()
    im.save(buf, format="JPEG", quality=85, **kwargs)
    return buf.getvalue()


def write_folder(folder, pano_bytes):
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "pano.jpg").write_bytes(pano_bytes)
    (folder / "images" / "flat.jpg").write_bytes(make_image_bytes(size=(320, 240), seed=1))
    common = {"heading": "30", "captured_at": "2020-01-01", "license": "CC BY-SA 4.0", "attribution": "x"}
    rows = [
        {"file": "images/pano.jpg", "source": "KartaView", "source_id": "1", "lat": "48.85", "lon": "2.35",
         "projection": "equirectangular", "city": "Paris", "country": "France", **common},
        {"file": "images/flat.jpg", "source": "Mapillary", "source_id": "2", "lat": "52.52", "lon": "13.40",
         "projection": "perspective", "city": "Berlin", "country": "Germany", **common},
    ]  # fmt: skip
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_an_import_keeps_each_panorama_bounded_and_without_metadata_and_a_reimport_fills_one_in(tmp_path):
    write_folder(tmp_path, panorama_jpeg((5000, 2500), exif_text="Rue Secrete 12"))
    report = import_map(tmp_path, name="Panoramas", panorama_view=True)
    assert report.created == 2 and report.map.panorama_view
    pano = Location.objects.get(source="KartaView")
    assert pano.views.count() == 3  # the fixed headings, as before
    assert not Location.objects.get(source="Mapillary").panorama
    data = pano.panorama.open("rb").read()
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == PANORAMA_STORED_SIZE and not im.getexif()
    assert b"Rue Secrete" not in data and b"SecretCam" not in data

    # A place imported before panoramas were kept gets its panorama from the next import.
    Location.objects.filter(id=pano.id).update(panorama="")
    again = import_map(tmp_path, name="Panoramas")
    assert (again.created, again.already_present) == (0, 2)
    assert Location.objects.get(id=pano.id).panorama.name == pano.panorama.name
    assert Map.objects.get(id=report.map.id).panorama_view  # left as it was: no --panorama-view
    import_map(tmp_path, name="Panoramas", panorama_view=False)
    assert not Map.objects.get(id=report.map.id).panorama_view


def panorama_place(m):
    return Location.objects.exclude(panorama="").get(map=m)


def pano_url(game):
    return f"/img/{game.rounds.get(index=0).image_key}/pano.jpg"


def test_with_the_setting_off_no_panorama_is_offered_nor_served(fixture_map):
    assert not fixture_map.panorama_view
    game, client = new_game(fixture_map, [panorama_place(fixture_map).id])
    s = client.get(f"/api/games/{game.public_id}/").json()
    assert s["round"]["panorama"] is None and len(s["round"]["views"]) == 3
    assert client.get(pano_url(game)).status_code == 404


def served_panorama(client, game):
    s = client.get(f"/api/games/{game.public_id}/").json()
    url = s["round"]["panorama"]
    assert url == pano_url(game) and len(s["round"]["views"]) == 3
    r = client.get(url)
    assert r.status_code == 200 and r["Content-Type"] == "image/jpeg" and "private" in r["Cache-Control"]
    return url, r.content, r["ETag"]


def test_with_the_setting_on_each_game_gets_its_own_rendering_of_the_panorama(fixture_map):
    from geogame.game import views

    Map.objects.filter(id=fixture_map.id).update(panorama_view=True)
    pano = panorama_place(fixture_map)
    stored = pano.panorama.open("rb").read()
    first, c1 = new_game(fixture_map, [pano.id])
    second, c2 = new_game(fixture_map, [pano.id])
    url1, data1, etag1 = served_panorama(c1, first)
    url2, data2, etag2 = served_panorama(c2, second)
    assert url1 != url2 and etag1 != etag2
    assert data1 != data2 and stored not in (data1, data2)
    for data in (data1, data2):
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "JPEG" and im.size == PANORAMA_SIZE
        assert_image_is_clean(data, pano, "the panorama")
    # A reload, rendered afresh, gets the same bytes; the ETag answers 304.
    views._rendered.clear()
    assert c1.get(url1).content == data1
    assert c1.get(url1, headers={"If-None-Match": etag1}).status_code == 304
    # Only the round's player: not another player, nor nobody.
    assert c2.get(url1).status_code == 404 and Client().get(url1).status_code == 404


def test_a_place_without_a_panorama_offers_none_with_the_setting_on(fixture_map):
    Map.objects.filter(id=fixture_map.id).update(panorama_view=True)
    flat = Location.objects.filter(map=fixture_map, panorama="").first()
    game, client = new_game(fixture_map, [flat.id])
    assert client.get(f"/api/games/{game.public_id}/").json()["round"]["panorama"] is None
    assert client.get(pano_url(game)).status_code == 404


def give_a_panorama(location):
    name, _ = store_bytes(stored_panorama(panorama_jpeg((512, 256))))
    Location.objects.filter(id=location.id).update(panorama=name)


def test_a_study_participant_always_gets_the_fixed_headings(study_map):
    Map.objects.filter(id=study_map.id).update(panorama_view=True)
    study = make_study(study_map)
    client = Client()
    participant = join(client, study)
    state(client, participant)  # starts the first trial
    first = participant.game.rounds.get(index=0)
    give_a_panorama(first.location)
    st = state(client, participant)
    assert st["round"]["panorama"] is None and st["round"]["views"]
    assert client.get(f"/img/{first.image_key}/pano.jpg").status_code == 404
    # A place outside the study, in an ordinary game on that map, is offered it: the study is what
    # says no. (The study's own places are reserved for it while it is open.)
    elsewhere = Location.objects.filter(map=study_map).exclude(id__in=participant.game.location_order).first()
    give_a_panorama(elsewhere)
    game, other = new_game(Map.objects.get(id=study_map.id), [elsewhere.id])
    assert other.get(f"/api/games/{game.public_id}/").json()["round"]["panorama"] == pano_url(game)


def test_a_duel_round_always_gets_the_fixed_headings(fixture_map):
    from geogame.duels import services as duels

    Map.objects.filter(id=fixture_map.id).update(panorama_view=True)
    pano = panorama_place(fixture_map)
    duel = duels.duel_create(
        player=Player.objects.create(display_name="Ada"), map=fixture_map, opponent=duels.HUMAN
    )
    game, _ = new_game(fixture_map, [pano.id])
    duel_round, game_round = (
        Round.objects.create(
            game=g,
            index=5,
            location=pano,
            image_key=services.secrets.token_urlsafe(32),
            started_at=timezone.now(),
        )
        for g in (duel.game, game)
    )
    assert not selectors.round_panorama_offered(duel_round)
    assert selectors.round_panorama_offered(game_round)
