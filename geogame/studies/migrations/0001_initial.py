"""The studies app takes over its models from the geogame app: their tables stay as they are
(db_table), only Django's state moves (geogame 0008 deletes them there)."""

import django.db.models.deletion
import geogame.studies.models
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('game', '0001_initial'),
        ('maps', '0001_initial'),
        ('players', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables exist (the geogame migrations created them): only the state changes.
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Study',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100)),
                        ('slug', models.SlugField(max_length=100, unique=True)),
                        ('mode', models.CharField(choices=[('coordinates', 'Pin on the map'), ('city', 'Pick the city')], default='city', max_length=12)),
                        ('practice_count', models.PositiveSmallIntegerField(default=25)),
                        ('test_count', models.PositiveSmallIntegerField(default=50)),
                        ('time_limit_s', models.PositiveIntegerField(blank=True, null=True)),
                        ('answers_after_practice', models.BooleanField(default=True)),
                        ('answers_after_test', models.BooleanField(default=False)),
                        ('consent_text', models.TextField()),
                        ('questions', models.JSONField(blank=True, default=geogame.studies.models.default_study_questions)),
                        ('seed', models.BigIntegerField()),
                        ('practice_ids', models.JSONField(default=list)),
                        ('test_ids', models.JSONField(default=list)),
                        ('link_token', models.CharField(max_length=43, unique=True)),
                        ('closes_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('map', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='studies', to='maps.map')),
                    ],
                    options={
                        'verbose_name_plural': 'studies',
                        'db_table': 'geogame_study',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='Participant',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('public_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                        ('answers', models.JSONField(blank=True, default=dict)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('game', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='participant', to='game.game')),
                        ('player', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='participant', to='players.player')),
                        ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='participants', to='studies.study')),
                    ],
                    options={
                        'db_table': 'geogame_participant',
                        'ordering': ['study_id', 'created_at', 'id'],
                    },
                ),
            ],
        ),
    ]
