"""Which locations a game may draw (geogame.game.location_pools): machines only what they never learned
from, no game a location held by a running duel or an open study, and the counts the pages show."""

import json
import secrets
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from geogame.duels import services as duels
from geogame.game import location_pools, services
from geogame.game.models import Game, Guess, Round
from geogame.maps.models import Location
from geogame.studies.models import Study
from inference.models import TrainedModel
from inference.services import machine_player_get
from players.models import Player

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(db):
    return Player.objects.create(display_name="Ada")


def ids_in(m, *splits):
    return set(Location.objects.filter(map=m, split__in=splits).values_list("id", flat=True))


def fake_artefact(m, tmp_path, name="ensemble", trained_on=None):
    """A ready TrainedModel whose meta.json records `trained_on` (None: an artefact from before
    the record existed). Games never load its weights."""
    directory = tmp_path / f"artefact-{name}"
    directory.mkdir()
    meta = {"config": {}, "labels": {}}
    if trained_on is not None:
        meta["trained_on"] = trained_on
    (directory / "meta.json").write_text(json.dumps(meta))
    return TrainedModel.objects.create(
        map=m, player_name=name, version=1, status=TrainedModel.READY, directory=str(directory)
    )


def open_study(m, practice_ids, test_ids, closes_at=None):
    return Study.objects.create(
        map=m,
        name=f"Study {secrets.token_hex(3)}",
        slug=f"study-{secrets.token_hex(3)}",
        consent_text="ok",
        seed=1,
        practice_ids=sorted(practice_ids),
        test_ids=sorted(test_ids),
        link_token=secrets.token_urlsafe(32),
        closes_at=closes_at,
    )


def test_a_machine_game_draws_only_held_out_places_its_artefact_never_learned_from(
    fixture_map, ada, tmp_path
):
    held_out = ids_in(fixture_map, Location.TEST, Location.PLAY)
    assert len(held_out) == 10
    # The artefact trained on two locations that are in the play split now (a resplit since).
    learned = sorted(held_out)[:2]
    fake_artefact(fixture_map, tmp_path, trained_on={"train": [learned[0]], "val": [learned[1]]})
    allowed = held_out - set(learned)
    seen = set()
    for seed in range(40):
        game = services.game_create(player=ada, map=fixture_map, opponent="ensemble", seed=seed)
        assert set(game.location_order) <= allowed, f"seed {seed}: {game.location_order}"
        seen |= set(game.location_order)
    assert seen == allowed  # every allowed place comes up (the check above can fail)
    for seed in range(20):
        game = services.game_create(player=ada, map=fixture_map, opponent="centroid", seed=seed)
        assert set(game.location_order) <= held_out  # never the map's train or val split
    human = set()
    for seed in range(40):
        human |= set(services.game_create(player=ada, map=fixture_map, seed=seed).location_order)
    assert human - held_out  # a human-only game uses every split


def test_an_artefact_without_a_record_excludes_the_maps_current_train_and_val(fixture_map, tmp_path):
    from inference.registry import excluded_location_ids

    fake_artefact(fixture_map, tmp_path, trained_on=None)
    assert excluded_location_ids("ensemble", fixture_map) == ids_in(fixture_map, Location.TRAIN, Location.VAL)


def test_training_records_the_locations_it_trained_and_stopped_on(trainable_map):
    from inference import artefacts
    from inference.registry import excluded_location_ids
    from inference.training import train, trained_model_create

    tm = train(trained_model_create(m=trainable_map, name="regression"), seed=0)
    meta = artefacts.read_meta(tm.directory)
    assert set(meta["trained_on"]["train"]) == ids_in(trainable_map, Location.TRAIN)
    assert set(meta["trained_on"]["val"]) == ids_in(trainable_map, Location.VAL)
    # A resplit afterwards moves a trained location into play: it stays excluded for this artefact.
    moved = meta["trained_on"]["train"][0]
    Location.objects.filter(id=moved).update(split=Location.PLAY)
    assert moved in excluded_location_ids("regression", trainable_map)
    assert moved not in location_pools.pool_ids(trainable_map, machine_names=["regression"])
    assert moved in location_pools.pool_ids(trainable_map, machine_names=["centroid"])


def test_too_few_unseen_places_are_refused_clearly_on_the_form_and_in_the_service(fixture_map, ada):
    with pytest.raises(services.GameError, match="has 10 places the random player has never seen; a game"):
        services.game_create(player=ada, map=fixture_map, opponent="random", rounds_total=11)
    client = Client()
    Location.objects.filter(map=fixture_map, split=Location.PLAY).update(split=Location.TRAIN)  # 5 left
    open_study(fixture_map, [], sorted(ids_in(fixture_map, Location.TEST))[:1])  # 4 left
    form = {"display_name": "Ada", "map": fixture_map.slug, "mode": "coordinates", "opponent": "random"}
    r = client.post("/", form)
    assert r.status_code == 400
    assert "has 4 places the random player has never seen; a game against it needs 5" in r.content.decode()
    assert Game.objects.count() == 0
    page = client.get("/").content.decode()
    assert "15 places free to play;\n            4 the machines have never seen" in page
    assert 'id="too-few-' + fixture_map.slug + '"' in page
    r = client.post("/duels/", {"display_name": "Ada", "map": fixture_map.slug, "opponent": "centroid"})
    assert r.status_code == 400
    assert "4 places the centroid player has never seen; a duel against" in r.content.decode()


def test_the_home_page_and_the_lobby_count_the_places_per_map(fixture_map, client):
    for url in ("/", "/duels/"):
        page = client.get(url).content.decode()
        assert "16 places free" in page and "10 the machines have never seen" in page, url
        assert "too-few-" not in page  # 10 are enough for a game of 5 rounds


def test_an_open_studys_places_and_a_running_duels_shown_places_are_never_served(fixture_map, ada):
    test_ids = sorted(ids_in(fixture_map, Location.TEST))
    study = open_study(fixture_map, test_ids[:1], test_ids[1:3])
    bo = Player.objects.create(display_name="Bo")
    duel = duels.duel_create(player=ada, map=fixture_map, opponent=duels.HUMAN)
    duels.duel_join(token=duel.seats.get(seat=1).invite_token, player=bo)
    duel.refresh_from_db()
    duels.duel_advance(duel_id=duel.id, now=duel.next_round_at)
    shown = Round.objects.get(game=duel.game, index=0).location_id
    reserved = set(test_ids[:3]) | {shown}
    assert location_pools.reserved_location_ids(fixture_map) == reserved
    for seed in range(40):
        for opponent in ("", "random"):
            game = services.game_create(player=ada, map=fixture_map, seed=seed, opponent=opponent)
            assert not set(game.location_order) & reserved
    # Duels do not hold places from each other, so a few duels at once never starve a map: another
    # duel may draw the shown place, but never the study's.
    assert location_pools.reserved_location_ids(fixture_map, for_duel=True) == set(test_ids[:3])
    other_duel_pool = location_pools.pool_ids(fixture_map, for_duel=True)
    assert shown in other_duel_pool and not other_duel_pool & set(test_ids[:3])
    # A closed study and a finished duel hold nothing back.
    Study.objects.filter(id=study.id).update(closes_at=timezone.now() - timedelta(seconds=1))
    duel.game.duel.__class__.objects.filter(id=duel.id).update(status="finished")
    assert location_pools.reserved_location_ids(fixture_map) == set()


def test_a_planned_place_that_became_reserved_is_replaced_when_its_round_starts(fixture_map, ada):
    game = services.game_create(player=ada, map=fixture_map, opponent="random", seed=7)
    planned = list(game.location_order)
    first = services.round_next(game=game)
    assert first.location_id == planned[0]
    open_study(fixture_map, [], [planned[1]])  # a study opens with round 2's place
    substitute = services.round_location_id(game, 1)
    assert substitute == services.round_location_id(game, 1)  # seeded: every request picks the same
    Guess.objects.create(round=first, player=ada, points=0, time_taken_s=1.0)
    second = services.round_next(game=game)
    assert second.location_id == substitute
    assert substitute not in planned and substitute in ids_in(fixture_map, Location.TEST, Location.PLAY)
    # A study's own fixed order is never changed, even though its places are reserved.
    participant_game = Game.objects.create(
        player=Player.objects.create(display_name="P"),
        map=fixture_map,
        rounds_total=1,
        seed=0,
        location_order=[planned[1]],
    )
    from geogame.studies.models import Participant

    player = participant_game.player
    Participant.objects.create(study=Study.objects.get(), player=player, game=participant_game)
    assert services.round_next(game=participant_game).location_id == planned[1]


def test_when_no_free_place_is_left_the_round_is_refused_with_a_reason(fixture_map, ada):
    game = services.game_create(player=ada, map=fixture_map, opponent="random", seed=3)
    held_out = ids_in(fixture_map, Location.TEST, Location.PLAY)
    open_study(fixture_map, [], sorted(held_out - set(game.location_order)) + [game.location_order[0]])
    with pytest.raises(services.GameError, match="round 1 cannot start: every place left") as exc:
        services.round_next(game=game)
    assert exc.value.status == 409
    client = Client()
    from players.sessions import SESSION_KEY

    session = client.session
    session[SESSION_KEY] = ada.id
    session.save()
    r = client.get(f"/api/games/{game.public_id}/")
    assert r.status_code == 409 and "every place left" in r.json()["error"]


def test_a_machines_think_time_is_drawn_per_round_and_recorded_as_its_time(fixture_map, ada, settings):
    settings.GEOGAME_MACHINE_THINK_S = None
    settings.GEOGAME_MACHINE_THINK_MIN_S, settings.GEOGAME_MACHINE_THINK_MAX_S = 8.0, 30.0
    game = services.game_create(player=ada, map=fixture_map, opponent="random", seed=11)
    rnd = services.round_next(game=game)
    machine = machine_player_get("random")
    guess, _ = services.guess_submit(round=rnd, player=machine, lat=1.0, lon=2.0)
    think = services.machine_think_s(round=rnd, player=machine)
    assert 8.0 <= think <= 30.0 and think == services.machine_think_s(round=rnd, player=machine)
    services.machine_think_record(guess)
    assert Guess.objects.get(id=guess.id).time_taken_s == think
    # With 20 human answer times on the map, the machine takes one of them.
    other = services.game_create(player=ada, map=fixture_map, seed=12, rounds_total=1)
    human_round = services.round_next(game=other)
    Guess.objects.create(round=human_round, player=ada, points=0, time_taken_s=13.5)
    settings.GEOGAME_MACHINE_THINK_MIN_SAMPLES = 1
    assert services.machine_think_s(round=rnd, player=machine) == 13.5
    Guess.objects.filter(round=human_round).update(timed_out=True)  # a timeout is no answer time
    assert 8.0 <= services.machine_think_s(round=rnd, player=machine) <= 30.0


def test_each_kind_of_game_has_its_traits_and_they_are_read_in_one_query(
    fixture_map, ada, django_assert_num_queries
):
    """geogame.game.hooks.game_traits: what the areas built on games register (a study participant's,
    a challenge's, a daily's and the bot benchmark's games keep their order; a duel's game is a duel's;
    a participant's shows fixed headings), read in one query whatever the kind."""
    from geogame.bots.models import BotBenchmarkGame
    from geogame.challenges.models import Challenge, ChallengeEntry, DailyAttempt, DailyChallenge
    from geogame.game import hooks
    from geogame.studies.models import Participant

    m = fixture_map
    place_ids = sorted(Location.objects.filter(map=m).values_list("id", flat=True))[:5]

    def new_game(name):
        player = Player.objects.create(display_name=name)
        return services.game_create_planned(player=player, map=m, location_ids=place_ids)

    solo = new_game("solo")
    study = new_game("participant")
    Participant.objects.create(
        study=open_study(m, place_ids[:1], place_ids[1:]), player=study.player, game=study
    )
    entry = new_game("entry")
    challenge = Challenge.objects.create(map=m, mode=Game.COORDINATES, location_order=place_ids)
    ChallengeEntry.objects.create(challenge=challenge, game=entry, player=entry.player)
    daily = new_game("daily")
    day = DailyChallenge.objects.create(map=m, day=timezone.now().date(), location_order=place_ids)
    DailyAttempt.objects.create(daily=day, game=daily, player=daily.player, owner="session:x")
    bench = new_game("bench")
    BotBenchmarkGame.objects.create(game=bench)
    duel = duels.duel_create(player=ada, map=m, opponent="centroid").game

    expected = {
        solo: (False, False, False),
        study: (True, False, True),
        entry: (True, False, False),
        daily: (True, False, False),
        bench: (True, False, False),
        duel: (False, True, False),
    }
    for game, (fixed_order, is_duel, fixed_headings) in expected.items():
        with django_assert_num_queries(1):
            traits = hooks.game_traits(game)
        assert traits == {"fixed_order": fixed_order, "is_duel": is_duel, "fixed_headings": fixed_headings}
