"""The game app takes over its models from the geogame app: their tables stay as they are
(db_table), only Django's state moves (geogame 0008 deletes them there)."""

import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('maps', '0001_initial'),
        ('players', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables exist (the geogame migrations created them): only the state changes.
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Game',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('public_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                        ('mode', models.CharField(choices=[('coordinates', 'Pin on the map'), ('city', 'Pick the city')], default='coordinates', max_length=12)),
                        ('rounds_total', models.PositiveSmallIntegerField(default=5)),
                        ('time_limit_s', models.PositiveIntegerField(blank=True, null=True)),
                        ('seed', models.BigIntegerField()),
                        ('location_order', models.JSONField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('map', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='games', to='maps.map')),
                        ('opponent', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='opposed_games', to='players.player')),
                        ('player', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='games', to='players.player')),
                    ],
                    options={
                        'db_table': 'geogame_game',
                    },
                ),
                migrations.CreateModel(
                    name='Round',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('index', models.PositiveSmallIntegerField()),
                        ('image_key', models.CharField(max_length=43, unique=True)),
                        ('started_at', models.DateTimeField()),
                        ('deadline', models.DateTimeField(blank=True, null=True)),
                        ('game', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rounds', to='game.game')),
                        ('location', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='rounds', to='maps.location')),
                    ],
                    options={
                        'db_table': 'geogame_round',
                        'ordering': ['game_id', 'index'],
                    },
                ),
                migrations.CreateModel(
                    name='Guess',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('lat', models.FloatField(blank=True, null=True)),
                        ('lon', models.FloatField(blank=True, null=True)),
                        ('city', models.CharField(blank=True, default='', max_length=100)),
                        ('distance_km', models.FloatField(blank=True, null=True)),
                        ('points', models.PositiveIntegerField()),
                        ('correct', models.BooleanField(blank=True, null=True)),
                        ('timed_out', models.BooleanField(default=False)),
                        ('time_taken_s', models.FloatField()),
                        ('views_seen', models.JSONField(default=list)),
                        ('view_ms', models.JSONField(blank=True, default=list)),
                        ('screen_w', models.PositiveIntegerField(blank=True, null=True)),
                        ('screen_h', models.PositiveIntegerField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('player', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='guesses', to='players.player')),
                        ('round', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='guesses', to='game.round')),
                    ],
                    options={
                        'db_table': 'geogame_guess',
                    },
                ),
                migrations.AddConstraint(
                    model_name='round',
                    constraint=models.UniqueConstraint(fields=('game', 'index'), name='unique_round_index'),
                ),
                migrations.AddConstraint(
                    model_name='round',
                    constraint=models.UniqueConstraint(fields=('game', 'location'), name='location_once_per_game'),
                ),
                migrations.AddConstraint(
                    model_name='guess',
                    constraint=models.UniqueConstraint(fields=('round', 'player'), name='one_guess_per_player'),
                ),
            ],
        ),
    ]
