"""Participants get a resume token apart from the id they report, an order seed, the test phase's
start, and a Trial row per shown trial; studies count withdrawals."""

import secrets

import django.db.models.deletion
from django.db import migrations, models

import geogame.studies.models


def fill_resume_tokens(apps, schema_editor):
    Participant = apps.get_model("studies", "Participant")
    for p in Participant.objects.filter(resume_token__isnull=True).only("id"):
        Participant.objects.filter(id=p.id).update(resume_token=secrets.token_urlsafe(32))


class Migration(migrations.Migration):

    dependencies = [
        ("studies", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="participant",
            name="resume_token",
            field=models.CharField(max_length=43, null=True, editable=False),
        ),
        migrations.RunPython(fill_resume_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="participant",
            name="resume_token",
            field=models.CharField(
                default=geogame.studies.models.new_resume_token, editable=False, max_length=43, unique=True
            ),
        ),
        migrations.AddField(
            model_name="participant",
            name="order_seed",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="participant",
            name="test_started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="study",
            name="withdrawn_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.CreateModel(
            name="Trial",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("index", models.PositiveSmallIntegerField()),
                ("first_shown_at", models.DateTimeField()),
                ("shown_at", models.DateTimeField()),
                ("displays", models.PositiveSmallIntegerField(default=1)),
                ("choice_order", models.JSONField(blank=True, default=list)),
                ("hidden_ms", models.PositiveIntegerField(blank=True, null=True)),
                ("blur_count", models.PositiveIntegerField(blank=True, null=True)),
                ("rt_ms", models.PositiveIntegerField(blank=True, null=True)),
                (
                    "participant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="trials",
                        to="studies.participant",
                    ),
                ),
            ],
            options={
                "db_table": "geogame_study_trial",
                "ordering": ["participant_id", "index"],
                "constraints": [
                    models.UniqueConstraint(fields=("participant", "index"), name="one_trial_per_index")
                ],
            },
        ),
    ]
