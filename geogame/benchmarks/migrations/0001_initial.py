"""The benchmarks app takes over its models from the geogame app: their tables stay as they are
(db_table), only Django's state moves (geogame 0008 deletes them there)."""

import django.db.models.deletion
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('maps', '0001_initial'),
        ('studies', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables exist (the geogame migrations created them): only the state changes.
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='BenchmarkReport',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('public_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                        ('data', models.JSONField(default=dict)),
                        ('provenance', models.JSONField(default=dict)),
                        ('files', models.JSONField(default=list)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('map', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='benchmark_reports', to='maps.map')),
                    ],
                    options={
                        'db_table': 'geogame_benchmarkreport',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.AddField(
                    model_name='benchmarkreport',
                    name='study',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='benchmark_reports', to='studies.study'),
                ),
            ],
        ),
    ]
