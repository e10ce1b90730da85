"""A database at the schema of main before the split into area apps (issue 13) keeps every row
when it is migrated to the newest layout.

The test knows tables, not apps: the rows are written with the historical models of that schema,
read back by raw SQL, and through whichever current model now owns each table.
"""

from datetime import timedelta

import pytest
from django.apps import apps as current_apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

# The last migration of each of our apps on main before the split.
MAIN_NODES = [
    ("geogame", "0007_city_map_scale"),
    ("inference", "0002_privacycheck"),
    ("players", "0001_initial"),
]
# Apps with migrations on main besides ours; they stay at their newest.
OTHER_MAIN_APPS = {"admin", "auth", "contenttypes", "sessions", "axes"}
MOVED_FROM = ("geogame", "inference")


def main_schema_targets():
    """The nodes whose state is main's schema, and the migrate targets that reach it: apps that main
    did not have yet (the area apps) are unapplied entirely, as on a database that never saw them."""
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    main_apps = {app for app, _ in MAIN_NODES} | OTHER_MAIN_APPS
    nodes = MAIN_NODES + [leaf for leaf in leaves if leaf[0] in OTHER_MAIN_APPS]
    new_apps = sorted({app for app, _ in leaves} - main_apps)
    return nodes, nodes + [(app, None) for app in new_apps]


def migrate_to(targets):
    MigrationExecutor(connection).migrate(targets)


def migrate_to_newest():
    migrate_to(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.fixture
def migrated_back_to_main(transactional_db):
    """The historical apps of main's schema, with the database migrated there; newest again afterwards
    (before transactional_db flushes), whatever the test did."""
    nodes, targets = main_schema_targets()
    try:
        migrate_to(targets)
        yield MigrationExecutor(connection).loader.project_state(nodes).apps
    finally:
        migrate_to_newest()
        current_apps.get_model("contenttypes", "ContentType").objects.clear_cache()


def main_models(apps):
    """Every model of our apps on main, by class name (they are all distinct)."""
    labels = ("players", *MOVED_FROM)
    return {model.__name__: model for label in labels for model in apps.get_app_config(label).get_models()}


def fill_map(new):
    """A city map with four locations of two views each."""
    fractions = {"train": 0.6, "val": 0.15, "test": 0.1, "play": 0.15}
    city_map = new("Map", name="Four cities", slug="four-cities", kind="city", scale_km=9123.4,
                   attribution="CC BY-SA 4.0, Mapillary", split_fractions=fractions)
    places = [
        ("Stuttgart", "Germany", 48.7758, 9.1829, "test"),
        ("Orleans", "France", 47.9022, 1.9104, "play"),
        ("Aurora", "Canada", 44.0065, -79.4504, "test"),
        ("Singapore", "Singapore", 1.3521, 103.8198, "train"),
    ]
    locations = []
    for i, (city, country, lat, lon, split) in enumerate(places, start=1):
        location = new("Location", map=city_map, city=city, country=country, lat=lat, lon=lon, split=split,
                       source="mapillary", source_id=f"mly-{i}", license="CC BY-SA 4.0")
        for index in range(2):
            sha = f"{i}{index}".ljust(64, "a")
            new("View", location=location, index=index, heading=90.0 * index, width=640, height=480,
                sha256=sha, image=f"views/{sha[:2]}/{sha}.jpg", thumb=f"views/{sha[:2]}/t{sha}.jpg")
        locations.append(location)
    return city_map, locations


def play_rounds(new, game, locations, answers):
    """A round per location of `game`, each answered by every (player, city, points) of `answers`."""
    for index, location in enumerate(locations[: game.rounds_total]):
        started = timezone.now()
        round_ = new("Round", game=game, index=index, location=location, image_key=f"key-{game.seed}-{index}",
                     started_at=started, deadline=started + timedelta(seconds=60))
        for player, city, points in answers:
            new("Guess", round=round_, player=player, lat=location.lat + 0.1, lon=location.lon, city=city,
                distance_km=11.1, points=points, correct=(city == location.city) if city else None,
                time_taken_s=7.5, views_seen=[0, 1], view_ms=[4000, 3500], screen_w=1280, screen_h=800)


def fill_main_schema(M):
    """A map with its locations, views, build and trained model; a finished classic game against a
    machine; a finished duel with a machine alongside; a study with a finished participant and its
    benchmark report; a kept privacy check."""

    def new(model_name, **fields):
        return M[model_name].objects.create(**fields)

    now = timezone.now()
    alice, bob = new("Player", display_name="Alice"), new("Player", display_name="Bob")
    machine = new("Player", display_name="Ensemble", kind="machine", machine_name="ensemble")
    city_map, locations = fill_map(new)

    order = [location.id for location in locations[:2]]
    classic = new("Game", player=alice, opponent=machine, map=city_map, rounds_total=2, time_limit_s=60,
                  seed=101, location_order=order)
    play_rounds(new, classic, locations, [(alice, "", 4875), (machine, "", 4120)])

    duel_game = new("Game", player=alice, map=city_map, rounds_total=3, time_limit_s=30, seed=202)
    play_rounds(new, duel_game, locations, [(alice, "", 4000), (bob, "", 1500), (machine, "", 3000)])
    duel = new("Duel", game=duel_game, status="finished", version=14, health=[2500, 0], round_index=2,
               results=[{"round": i, "damage": 2500} for i in range(3)], winner_seat=0, end_reason="health",
               finished_at=now)
    for seat, player in enumerate((alice, bob, machine)):
        new("DuelSeat", duel=duel, seat=seat, player=player, invite_token=f"invite-{seat}")

    study = new("Study", map=city_map, name="Cities baseline", slug="cities-baseline", mode="city",
                practice_count=1, test_count=1, consent_text="I agree to take part.", seed=303,
                practice_ids=order[:1], test_ids=order[1:], link_token="study-link-token",
                closes_at=now + timedelta(days=30))
    anonymous = new("Player", display_name="participant")
    study_game = new("Game", player=anonymous, map=city_map, mode="city", rounds_total=2, seed=303,
                     location_order=order)
    play_rounds(new, study_game, locations, [(anonymous, "Stuttgart", 5000)])
    new("Participant", study=study, player=anonymous, game=study_game, finished_at=now,
        answers={"familiarity": "a little", "geoguessr": "never"})
    new("BenchmarkReport", map=city_map, study=study, data={"humans": {"accuracy": 0.5}},
        provenance={"study": study.slug}, files=["report.json", "accuracy.png"])

    check = new("PrivacyCheck", map=city_map, caption="Our street", result={"risk": "high"})
    new("PrivacyCheckPhoto", privacy_check=check, index=0, image="privacy/a1.jpg", sha256="b" * 64)
    new("TrainedModel", map=city_map, player_name="ensemble", version=3, status="ready", progress=1.0,
        directory="var/models/four-cities/ensemble/v3", metrics={"top1": 0.41}, finished_at=now)
    build = new("MapBuild", map=city_map, provider="mapillary", per_region=2, seed=7, plan_key="c" * 64,
                regions=[{"name": "Stuttgart", "bbox": [9.0, 48.6, 9.3, 48.9]}], status="done", progress=1.0,
                found=1, tried=2, summary={"requested": 2, "found": 1}, finished_at=now)
    new("BuildPoint", build=build, region_index=0, point_index=0, lat=48.77, lon=9.18, outcome="found",
        source_id="mly-1", location=locations[0])
    new("BuildPoint", build=build, region_index=0, point_index=1, lat=48.70, lon=9.25, outcome="no_imagery",
        detail="nothing within 50 m")


def table_rows(table):
    """{id: {column: value}} of every row, straight from the database."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
        columns = [c[0] for c in cursor.description]
        rows = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
    return {row["id"]: row for row in rows}


def content_type_ids(apps, models):
    """The content type row of each model under its app label on main, as on a database that ran
    main (the test database was set up with the newest labels; those rows go)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    names = [model._meta.model_name for model in models]
    ContentType.objects.filter(model__in=names).exclude(app_label__in=MOVED_FROM + ("players",)).delete()
    ids = {}
    for model in models:
        meta = model._meta
        row, _ = ContentType.objects.get_or_create(app_label=meta.app_label, model=meta.model_name)
        ids[meta.db_table] = row.id
    return ids


def current_model(table):
    owners = [model for model in current_apps.get_models() if model._meta.db_table == table]
    assert len(owners) == 1, f"{table} is the table of {owners}"
    return owners[0]


def assert_rows_kept(before):
    """Every row is still there with the values it had; columns may be added, none lost or changed."""
    for table, rows in before.items():
        after = table_rows(table)
        assert after.keys() == rows.keys(), table
        for pk, row in rows.items():
            assert {column: after[pk].get(column, "<column gone>") for column in row} == row, (table, pk)


def assert_orm_reads_rows(before):
    """The current model of each table finds each row by pk, with the foreign keys the database holds."""
    for table, rows in before.items():
        model = current_model(table)
        assert model.objects.count() == len(rows), table
        foreign_keys = [f for f in model._meta.concrete_fields if f.is_relation]
        for pk, row in rows.items():
            obj = model.objects.get(pk=pk)
            read = {f.column: getattr(obj, f.attname) for f in foreign_keys}
            # A foreign key added since (players.Player.user) is empty on every old row.
            assert read == {f.column: row.get(f.column) for f in foreign_keys}, (table, pk)


def assert_relations_followed():
    """One foreign key each way per area, through the current models."""
    def objects(table):
        return current_model(table).objects

    guess = objects("geogame_guess").get(round__game__seed=101, round__index=1, player__kind="human")
    assert guess.points == 4875 and guess.view_ms == [4000, 3500] and guess.round.location.city == "Orleans"
    classic = guess.round.game
    assert sorted(classic.rounds.values_list("index", flat=True)) == [0, 1]
    assert classic.opponent.machine_name == "ensemble" and classic.map.slug == "four-cities"

    duel = objects("geogame_duel").get()
    seated = [(s.seat, s.player.display_name) for s in duel.seats.order_by("seat")]
    assert seated == [(0, "Alice"), (1, "Bob"), (2, "Ensemble")]
    assert duel.game.duel == duel and duel.health == [2500, 0] and duel.winner_seat == 0
    assert duel.game.rounds.get(index=2).guesses.count() == 3

    participant = objects("geogame_participant").get()
    assert participant.answers["familiarity"] == "a little" and participant.study.slug == "cities-baseline"
    assert participant.study.participants.get() == participant
    assert participant.player.participant == participant
    assert [g.city for g in participant.game.rounds.get(index=0).guesses.all()] == ["Stuttgart"]

    report = objects("geogame_benchmarkreport").get()
    assert report.study.benchmark_reports.get() == report and report.files == ["report.json", "accuracy.png"]

    check = objects("inference_privacycheck").get()
    assert check.photos.get().privacy_check == check and check.result == {"risk": "high"}
    city_map = check.map
    assert city_map.trained_models.get().directory == "var/models/four-cities/ensemble/v3"
    assert city_map.locations.get(city="Aurora").views.count() == 2
    assert objects("geogame_view").filter(location__map=city_map).count() == 8
    build = city_map.builds.get()
    assert [p.outcome for p in build.points.order_by("point_index")] == ["found", "no_imagery"]
    assert build.points.get(outcome="found").location.city == "Stuttgart"


def assert_content_types_relabelled(ids_by_table):
    """The content type rows of main are kept (permissions and admin log entries point at them) and
    carry each model's current app label."""
    with connection.cursor() as cursor:
        for table, ct_id in ids_by_table.items():
            cursor.execute("SELECT app_label, model FROM django_content_type WHERE id = %s", [ct_id])
            meta = current_model(table)._meta
            assert cursor.fetchone() == (meta.app_label, meta.model_name), table


def test_migrating_main_to_the_newest_layout_keeps_every_row(migrated_back_to_main):
    models = main_models(migrated_back_to_main)
    fill_main_schema(models)
    split_models = [model for model in models.values() if model._meta.app_label in MOVED_FROM]
    content_types = content_type_ids(migrated_back_to_main, split_models)
    before = {model._meta.db_table: table_rows(model._meta.db_table) for model in models.values()}
    assert all(before.values())

    migrate_to_newest()

    assert_rows_kept(before)
    assert_orm_reads_rows(before)
    assert_relations_followed()
    assert_content_types_relabelled(content_types)
