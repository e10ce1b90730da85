"""The held-out play split and per-map split fractions. Existing maps keep the 70/15/15 split they
were imported with (and no play split) until `manage.py resplit`; new maps get the new default."""

from django.db import migrations, models

import geogame.maps.models


class Migration(migrations.Migration):
    dependencies = [
        ("geogame", "0005_duel_active_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="map",
            name="split_fractions",
            field=models.JSONField(default=geogame.maps.models.legacy_split_fractions),
        ),
        migrations.AlterField(
            model_name="map",
            name="split_fractions",
            field=models.JSONField(default=geogame.maps.models.default_split_fractions),
        ),
        migrations.AlterField(
            model_name="location",
            name="split",
            field=models.CharField(
                choices=[("train", "train"), ("val", "val"), ("test", "test"), ("play", "play")], max_length=5
            ),
        ),
    ]
