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

from geogame.game.models import Game
from geogame.maps.models import Location

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
    from geogame.studies.services import study_create

    study = study_create(
        map=study_map, name="S", consent_text="ok", mode=mode, practice_count=1, test_count=3, time_limit_s=60
    )
    client = Client()
    join_page = client.get(f"/study/{study.link_token}/").content.decode()
    r = client.post(f"/study/{study.link_token}/", {"consent": "yes"})
    play_page = client.get(r["Location"]).content.decode()
    pid = r["Location"].split("/")[3]
    state = client.get(f"/api/study/r/{pid}/")
    for index in range(4):
        s = state.json()
        assert s["round"]["index"] == index and s["result"] is None
        loc = Location.objects.get(rounds__game__participant__resume_token=pid, rounds__index=index)
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
            received.append(("state after", without_candidates(client.get(f"/api/study/r/{pid}/").content)))
        else:
            assert after.json()["result"]["answer"]["lat"] == loc.lat
        for what, text in received:
            assert_reveals_nothing(text, loc, f"trial {index} {what}")
        state = client.post(s["next_url"])
        if index == study.practice_count - 1:  # the test starts from the page that announces it
            assert client.post(f"/study/r/{pid}/test/").status_code == 302
            state = client.get(f"/api/study/r/{pid}/")


def test_the_answer_oracle_is_throttled_per_address(settings, fixture_map):
    """Issue 12's oracle: a script makes a throwaway session per game, guesses anywhere and reads
    the answer. New sessions are free, so only a budget per address stops it."""
    games_per_address = 4
    settings.GEOGAME_RATE_LIMITS = {**settings.GEOGAME_RATE_LIMITS, "game": (games_per_address, 600)}
    learned = 0
    for _ in range(games_per_address):
        client = Client()  # fresh cookies every game
        r = client.post("/", {"display_name": "oracle", "map": fixture_map.slug, "mode": "coordinates"})
        assert r.status_code == 302, r.content
        state = client.get(f"/api/games/{r['Location'].split('/')[2]}/").json()
        body = json.dumps({"lat": 0.0, "lon": 0.0})
        after = client.post(state["round"]["guess_url"], body, content_type="application/json")
        learned += "answer" in after.json()["result"]
    assert learned == games_per_address
    refused = Client().post("/", {"display_name": "oracle", "map": fixture_map.slug, "mode": "coordinates"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "too many new games from this address" in refused.content.decode()


# -- What the client receives for a round (issue 12): summary, photo bytes, sizes --------------------

OPPONENT_TOTAL = re.compile(r'id="opponent-total" data-points="(\d+)"')


def client_playing(game):
    """A test client whose session is `game`'s player (games made by services, not the home form)."""
    from players.sessions import SESSION_KEY

    client = Client()
    session = client.session
    session[SESSION_KEY] = game.player_id
    session.save()
    return client


def new_game(m, location_ids=None, opponent="", mode=Game.COORDINATES):
    """A game on `m`, its rounds on `location_ids` in that order when given."""
    from geogame.game import services
    from players.models import Player

    player = Player.objects.create(display_name="Ada")
    game = services.game_create(player=player, map=m, opponent=opponent, mode=mode)
    if location_ids is not None:
        order = list(location_ids)
        Game.objects.filter(pk=game.pk).update(location_order=order, rounds_total=len(order))
        game.refresh_from_db()
    return game, client_playing(game)


def guess_and_next(client, state):
    body = json.dumps({"lat": 0.0, "lon": 0.0})
    assert client.post(state["round"]["guess_url"], body, content_type="application/json").status_code == 201
    client.post(state["next_url"])


def summary_of(client, game):
    page = client.get(f"/games/{game.public_id}/summary/").content.decode()
    total = OPPONENT_TOTAL.search(page)
    rows = dict(re.findall(r'<tr class="summary-row" data-points="\d+" data-round="(\d+)"(.*?)>', page, re.S))
    return page, int(total.group(1)) if total else None, rows


@pytest.mark.django_db(transaction=True)
def test_the_summary_shows_nothing_of_a_round_before_its_guess(trainable_map):
    """Against `centroid` (one fixed pin) a round's points invert to a distance from a known point,
    which names the city: neither the total nor a row may carry the open round before the guess."""
    from geogame.common import background
    from geogame.game.models import Guess

    Location.objects.filter(map=trainable_map).update(split=Location.TEST)
    Location.objects.filter(id__in=Location.objects.filter(map=trainable_map).order_by("id")[:12]).update(
        split=Location.TRAIN
    )
    game, client = new_game(trainable_map, opponent="centroid")
    shown_total, leaks = 0, []
    for number in range(1, game.rounds_total + 1):
        s = client.get(f"/api/games/{game.public_id}/").json()
        background.wait_local()  # the machine's guess for this round is stored now
        machine = Guess.objects.get(round__game=game, round__index=number - 1, player=game.opponent)
        s = client.get(f"/api/games/{game.public_id}/").json()
        assert s["result"] is None and s["opponent_total_points"] == shown_total
        page, total, rows = summary_of(client, game)
        assert total == shown_total, f"round {number}: the opponent's total includes the open round"
        assert str(number) not in rows and "data-opponent-lat" not in rows.get(str(number), "")
        assert page.count("data-opponent-lat") == number - 1

        body = json.dumps({"lat": 0.0, "lon": 0.0})
        client.post(s["round"]["guess_url"], body, content_type="application/json")
        shown_total += machine.points
        leaks.append(machine.points)
        page, total, rows = summary_of(client, game)
        assert total == shown_total
        assert f'data-opponent-lat="{machine.lat}"' in rows[str(number)]
        assert page.count("data-opponent-lat") == number
        client.post(s["next_url"])
    assert client.get(f"/api/games/{game.public_id}/").json()["opponent_total_points"] == shown_total
    assert max(leaks) > 0  # the old total would have shown them (the test can fail)


def test_a_round_whose_clock_ran_out_counts_on_the_summary(trainable_map):
    """A timed-out round is finished: the summary records the timeout and shows that round."""
    from datetime import timedelta

    from django.utils import timezone

    from geogame.game.models import Guess, Round

    game, client = new_game(trainable_map)
    client.get(f"/api/games/{game.public_id}/")
    Round.objects.filter(game=game).update(
        started_at=timezone.now() - timedelta(minutes=5), deadline=timezone.now() - timedelta(minutes=4)
    )
    page, _, rows = summary_of(client, game)
    assert "1" in rows and "time ran out" in page
    assert Guess.objects.get(round__game=game, player=game.player).timed_out


def served(client, url):
    r = client.get(url)
    assert r.status_code == 200 and r["Content-Type"] == "image/jpeg", url
    assert "Content-Disposition" not in r, "a file name would name the photo"
    return r.content, r["ETag"]


def round_bytes(client, game):
    """{(view index, kind): (bytes, etag)} for the game's current round."""
    s = client.get(f"/api/games/{game.public_id}/").json()
    out = {}
    for i, view in enumerate(s["round"]["views"]):
        for kind in ("url", "thumb"):
            out[i, kind] = served(client, view[kind])
    return out, s


def test_two_games_get_different_bytes_for_one_photo_and_a_reload_the_same(fixture_map):
    from geogame.game import views

    pano = Location.objects.get(map=fixture_map, source="KartaView")  # three views
    plain = Location.objects.filter(map=fixture_map, source="Mapillary").first()
    first, c1 = new_game(fixture_map, [pano.id, plain.id])
    second, c2 = new_game(fixture_map, [pano.id, plain.id])
    for _ in range(2):
        a, s1 = round_bytes(c1, first)
        b, s2 = round_bytes(c2, second)
        assert a.keys() == b.keys()
        for key in a:
            assert a[key][0] != b[key][0], f"view {key}: the same bytes in two games"
            assert a[key][1] != b[key][1], f"view {key}: the same ETag in two games"
        current = first.rounds.order_by("-index").first()
        stored = {v.image.open("rb").read() for v in current.location.views.all()}
        assert not stored & {data for data, _ in a.values()}, "the stored bytes are served as they are"
        # The same round again, also rendered afresh (another process, or after the cache dropped it).
        views._rendered.clear()
        again, _ = round_bytes(c1, first)
        assert again == a
        for url, (_, etag) in zip(
            (v[k] for v in s1["round"]["views"] for k in ("url", "thumb")), a.values(), strict=True
        ):
            assert c1.get(url, headers={"If-None-Match": etag}).status_code == 304
        guess_and_next(c1, s1)
        guess_and_next(c2, s2)


def test_every_view_of_a_map_is_served_at_one_size_without_metadata(fixture_map):
    """Shape (1024x578 was always Orleans) and thumbnails name nothing: decode every served JPEG."""
    from geogame.game.round_images import SERVED_SIZE, THUMB_SIZE
    from geogame.maps.models import View

    ids = list(Location.objects.filter(map=fixture_map).order_by("id").values_list("id", flat=True))
    stored_sizes = set(View.objects.filter(location__map=fixture_map).values_list("width", "height"))
    assert len(stored_sizes) > 1  # the map's photos do differ in shape
    game, client = new_game(fixture_map, ids)
    sizes = {"url": set(), "thumb": set()}
    view_counts = set()
    for number in range(1, len(ids) + 1):
        got, s = round_bytes(client, game)
        loc = Location.objects.get(rounds__game=game, rounds__index=number - 1)
        view_counts.add(len(s["round"]["views"]))
        assert not {"width", "height", "size"} & set(json.dumps(s["round"]).replace('"', " ").split())
        for (i, kind), (data, _) in got.items():
            with Image.open(io.BytesIO(data)) as im:
                assert im.format == "JPEG"
                sizes[kind].add(im.size)
            assert_image_is_clean(data, loc, f"round {number} view {i} {kind}")
        guess_and_next(client, s)
    assert sizes == {"url": {SERVED_SIZE}, "thumb": {THUMB_SIZE}}
    assert view_counts == {1, 3}
    note = "Some places on this map have 1 photo, others 3."
    assert note in client.get(f"/play/{game.public_id}/").content.decode()
    assert note in Client().get("/").content.decode()


def test_a_machine_game_never_draws_a_train_or_val_location(fixture_map, tmp_path):
    """Replay: `ensemble` scored 24,995/25,000 on its own training photos. Games against machines,
    started from the home page as a player would, draw only places the machine never learned from:
    not the map's train or val split, nor what its artefact records (here two places now in play)."""
    from inference.models import TrainedModel

    held_out = set(
        Location.objects.filter(map=fixture_map, split__in=("test", "play")).values_list("id", flat=True)
    )
    learned = sorted(held_out)[:2]
    directory = tmp_path / "ensemble-v1"
    directory.mkdir()
    meta = {"config": {}, "labels": {}, "trained_on": {"train": [learned[0]], "val": [learned[1]]}}
    (directory / "meta.json").write_text(json.dumps(meta))
    TrainedModel.objects.create(
        map=fixture_map, player_name="ensemble", version=1, status="ready", directory=str(directory)
    )
    drawn = {"ensemble": set(), "centroid": set()}
    for number in range(24):
        opponent = "ensemble" if number % 2 else "centroid"
        client = Client()
        form = {"display_name": "Eve", "map": fixture_map.slug, "mode": "coordinates", "opponent": opponent}
        assert client.post("/", form).status_code == 302
        game = Game.objects.order_by("-id").first()
        drawn[opponent] |= set(game.location_order)
        if opponent == "centroid":  # play it: every served round is a held-out place
            state = client.get(f"/api/games/{game.public_id}/").json()
            for _ in range(game.rounds_total):
                guess_and_next(client, state)
                state = client.get(f"/api/games/{game.public_id}/").json()
            drawn["centroid"] |= set(game.rounds.values_list("location_id", flat=True))
    assert drawn["centroid"] <= held_out and drawn["ensemble"] <= held_out - set(learned)
    assert drawn["ensemble"] == held_out - set(learned)  # it draws them all (so this test can fail)


def test_a_duels_machine_does_not_announce_before_the_floor(
    fixture_map, monkeypatch, settings, django_capture_on_commit_callbacks
):
    """Replay: the machine announced 3 s into every round, leaving the human about 18 s. However fast
    it thinks, the announcement (by timer or by the workers' sweep) leaves the human the floor."""
    from datetime import timedelta

    from django.utils import timezone

    from geogame.duels import events as duel_events
    from geogame.duels import services as duels
    from geogame.game import services
    from geogame.game.models import Round
    from inference.services import machine_player_get
    from players.models import Player

    events = []
    monkeypatch.setattr(duel_events, "_group_send", lambda group, message: events.append(message["type"]))
    monkeypatch.setattr(duel_events, "_schedule", lambda *timer: None)
    monkeypatch.setattr(duels.background, "enqueue", lambda task, *args: None)
    settings.GEOGAME_DUEL_ROUND_S, settings.GEOGAME_DUEL_DROP_S = 60, 15.0
    settings.GEOGAME_MACHINE_THINK_S = 0.5  # a machine as fast as the old one, or faster
    settings.GEOGAME_MACHINE_MIN_HUMAN_S = 20.0
    t0 = timezone.now()
    eve = Player.objects.create(display_name="Eve")
    duel = duels.duel_create(player=eve, map=fixture_map, opponent="random")
    with django_capture_on_commit_callbacks(execute=True):
        duels.duels_advance_overdue(now=duel.next_round_at)
    assert events == ["round_started"]
    rnd = Round.objects.get(game=duel.game, index=0)
    machine = machine_player_get("random")
    guess, _ = services.guess_submit(round=rnd, player=machine, lat=1.0, lon=1.0, now=rnd.started_at)
    guess = services.machine_think_record(guess)
    for second in (0.5, 3.0, 4.9):  # the sweep and an early timer: nothing yet
        now = rnd.started_at + timedelta(seconds=second)
        with django_capture_on_commit_callbacks(execute=True):  # events go out after commit
            duels.duels_advance_overdue(now=now)
            duels.duel_machine_announce(round_id=rnd.id, player_id=machine.id, now=now)
        assert "opponent_guessed" not in events, f"announced {second} s into the round"
    with django_capture_on_commit_callbacks(execute=True):
        duels.duels_advance_overdue(now=rnd.started_at + timedelta(seconds=5))
    assert events[-1] == "opponent_guessed"
    rnd.refresh_from_db()
    assert (rnd.deadline - rnd.started_at).total_seconds() >= 20.0 and rnd.started_at >= t0
