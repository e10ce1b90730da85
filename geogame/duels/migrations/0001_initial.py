"""The duels app takes over its models from the geogame app: their tables stay as they are
(db_table), only Django's state moves (geogame 0008 deletes them there)."""

import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('game', '0001_initial'),
        ('players', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables exist (the geogame migrations created them): only the state changes.
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Duel',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('public_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                        ('status', models.CharField(choices=[('waiting', 'waiting for a player'), ('active', 'playing'), ('finished', 'finished')], default='waiting', max_length=10)),
                        ('version', models.PositiveIntegerField(default=0)),
                        ('health', models.JSONField(default=list)),
                        ('round_index', models.SmallIntegerField(blank=True, null=True)),
                        ('round_open', models.BooleanField(default=False)),
                        ('guessed', models.JSONField(default=list)),
                        ('next_round_at', models.DateTimeField(blank=True, null=True)),
                        ('results', models.JSONField(default=list)),
                        ('winner_seat', models.SmallIntegerField(blank=True, null=True)),
                        ('end_reason', models.CharField(blank=True, default='', max_length=20)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'geogame_duel',
                    },
                ),
                migrations.CreateModel(
                    name='DuelSeat',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seat', models.PositiveSmallIntegerField()),
                        ('invite_token', models.CharField(blank=True, max_length=43, null=True, unique=True)),
                    ],
                    options={
                        'db_table': 'geogame_duelseat',
                        'ordering': ['duel_id', 'seat'],
                    },
                ),
                migrations.AddField(
                    model_name='duel',
                    name='game',
                    field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='duel', to='game.game'),
                ),
                migrations.AddField(
                    model_name='duelseat',
                    name='duel',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='seats', to='duels.duel'),
                ),
                migrations.AddField(
                    model_name='duelseat',
                    name='player',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='duel_seats', to='players.player'),
                ),
                migrations.AddIndex(
                    model_name='duel',
                    index=models.Index(condition=models.Q(('status', 'active')), fields=['status'], name='duel_active'),
                ),
                migrations.AddConstraint(
                    model_name='duelseat',
                    constraint=models.UniqueConstraint(fields=('duel', 'seat'), name='unique_duel_seat'),
                ),
                migrations.AddConstraint(
                    model_name='duelseat',
                    constraint=models.UniqueConstraint(condition=models.Q(('player__isnull', False)), fields=('duel', 'player'), name='one_seat_per_player'),
                ),
            ],
        ),
    ]
