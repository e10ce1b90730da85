"""The models move to one app per area (maps, game, duels, studies, benchmarks): their tables keep
their names (db_table), so only Django's state changes here, and the content types follow."""

from django.db import migrations, models


# (old app label, model) -> new app label
MOVED = {
    **{("geogame", m): "maps" for m in ("map", "location", "view", "mapbuild", "buildpoint")},
    **{("geogame", m): "game" for m in ("game", "round", "guess")},
    **{("geogame", m): "duels" for m in ("duel", "duelseat")},
    **{("geogame", m): "studies" for m in ("study", "participant")},
    ("geogame", "benchmarkreport"): "benchmarks",
    ("inference", "privacycheck"): "privacy",
    ("inference", "privacycheckphoto"): "privacy",
}


def content_types_follow(apps, schema_editor):
    """The admin's log and the permissions name models by content type: move those to the new labels
    (a fresh database has none yet; they are created after migrating)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for (old_label, model), new_label in MOVED.items():
        if not ContentType.objects.filter(app_label=new_label, model=model).exists():
            ContentType.objects.filter(app_label=old_label, model=model).update(app_label=new_label)


class Migration(migrations.Migration):

    dependencies = [
        ('geogame', '0007_city_map_scale'),
        ('inference', '0003_move_privacy_out'),
        ('maps', '0001_initial'),
        ('game', '0001_initial'),
        ('duels', '0001_initial'),
        ('studies', '0001_initial'),
        ('privacy', '0001_initial'),
        ('benchmarks', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables exist (the geogame migrations created them): only the state changes.
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name='buildpoint',
                    name='build',
                ),
                migrations.RemoveField(
                    model_name='buildpoint',
                    name='location',
                ),
                migrations.RemoveField(
                    model_name='duel',
                    name='game',
                ),
                migrations.RemoveField(
                    model_name='duelseat',
                    name='duel',
                ),
                migrations.RemoveField(
                    model_name='duelseat',
                    name='player',
                ),
                migrations.RemoveField(
                    model_name='game',
                    name='map',
                ),
                migrations.RemoveField(
                    model_name='game',
                    name='opponent',
                ),
                migrations.RemoveField(
                    model_name='game',
                    name='player',
                ),
                migrations.RemoveField(
                    model_name='round',
                    name='game',
                ),
                migrations.RemoveField(
                    model_name='participant',
                    name='game',
                ),
                migrations.RemoveField(
                    model_name='guess',
                    name='player',
                ),
                migrations.RemoveField(
                    model_name='guess',
                    name='round',
                ),
                migrations.RemoveField(
                    model_name='location',
                    name='map',
                ),
                migrations.RemoveField(
                    model_name='round',
                    name='location',
                ),
                migrations.RemoveField(
                    model_name='view',
                    name='location',
                ),
                migrations.RemoveField(
                    model_name='mapbuild',
                    name='map',
                ),
                migrations.RemoveField(
                    model_name='study',
                    name='map',
                ),
                migrations.RemoveField(
                    model_name='participant',
                    name='player',
                ),
                migrations.RemoveField(
                    model_name='participant',
                    name='study',
                ),
                migrations.DeleteModel(
                    name='BenchmarkReport',
                ),
                migrations.DeleteModel(
                    name='BuildPoint',
                ),
                migrations.DeleteModel(
                    name='Duel',
                ),
                migrations.DeleteModel(
                    name='DuelSeat',
                ),
                migrations.DeleteModel(
                    name='Game',
                ),
                migrations.DeleteModel(
                    name='Guess',
                ),
                migrations.DeleteModel(
                    name='Round',
                ),
                migrations.DeleteModel(
                    name='Location',
                ),
                migrations.DeleteModel(
                    name='View',
                ),
                migrations.DeleteModel(
                    name='MapBuild',
                ),
                migrations.DeleteModel(
                    name='Map',
                ),
                migrations.DeleteModel(
                    name='Participant',
                ),
                migrations.DeleteModel(
                    name='Study',
                ),
            ],
        ),
        migrations.RunPython(content_types_follow, migrations.RunPython.noop),
    ]
