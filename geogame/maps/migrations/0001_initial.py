"""The maps app takes over its models from the geogame app: their tables stay as they are
(db_table), only Django's state moves (geogame 0008 deletes them there)."""

import django.db.models.deletion
import geogame.maps.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('geogame', '0007_city_map_scale'),
        ('inference', '0002_privacycheck'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables exist (the geogame migrations created them): only the state changes.
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Map',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100)),
                        ('slug', models.SlugField(max_length=100, unique=True)),
                        ('kind', models.CharField(choices=[('world', 'World (coordinates)'), ('region', 'Region (coordinates)'), ('city', 'Cities (multiple choice)')], default='world', max_length=10)),
                        ('scale_km', models.FloatField(default=14916.862)),
                        ('attribution', models.TextField(blank=True, default='')),
                        ('split_fractions', models.JSONField(default=geogame.maps.models.default_split_fractions)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'geogame_map',
                    },
                ),
                migrations.CreateModel(
                    name='Location',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('lat', models.FloatField()),
                        ('lon', models.FloatField()),
                        ('city', models.CharField(blank=True, default='', max_length=100)),
                        ('country', models.CharField(blank=True, default='', max_length=100)),
                        ('split', models.CharField(choices=[('train', 'train'), ('val', 'val'), ('test', 'test'), ('play', 'play')], max_length=5)),
                        ('source', models.CharField(max_length=50)),
                        ('source_id', models.CharField(max_length=200)),
                        ('license', models.CharField(blank=True, default='', max_length=100)),
                        ('attribution', models.TextField(blank=True, default='')),
                        ('captured_at', models.CharField(blank=True, default='', max_length=40)),
                        ('map', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='locations', to='maps.map')),
                    ],
                    options={
                        'db_table': 'geogame_location',
                    },
                ),
                migrations.CreateModel(
                    name='MapBuild',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('provider', models.CharField(choices=[('streetview', 'Google Street View'), ('mapillary', 'Mapillary')], max_length=20)),
                        ('regions', models.JSONField()),
                        ('per_region', models.PositiveIntegerField()),
                        ('seed', models.BigIntegerField(default=0)),
                        ('options', models.JSONField(blank=True, default=dict)),
                        ('plan_key', models.CharField(db_index=True, max_length=64)),
                        ('status', models.CharField(choices=[('queued', 'queued'), ('running', 'running'), ('done', 'done'), ('stopped', 'stopped'), ('failed', 'failed')], default='queued', max_length=10)),
                        ('progress', models.FloatField(default=0.0)),
                        ('found', models.PositiveIntegerField(default=0)),
                        ('tried', models.PositiveIntegerField(default=0)),
                        ('summary', models.JSONField(blank=True, default=dict)),
                        ('error', models.TextField(blank=True, default='')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('map', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='builds', to='maps.map')),
                    ],
                    options={
                        'db_table': 'geogame_mapbuild',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='BuildPoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('region_index', models.PositiveIntegerField()),
                        ('point_index', models.PositiveIntegerField()),
                        ('lat', models.FloatField()),
                        ('lon', models.FloatField()),
                        ('outcome', models.CharField(choices=[('found', 'found'), ('duplicate', 'duplicate'), ('no_imagery', 'no_imagery'), ('rejected', 'rejected'), ('error', 'error')], max_length=12)),
                        ('detail', models.TextField(blank=True, default='')),
                        ('source_id', models.CharField(blank=True, default='', max_length=200)),
                        ('location', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='maps.location')),
                        ('build', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='points', to='maps.mapbuild')),
                    ],
                    options={
                        'db_table': 'geogame_buildpoint',
                        'ordering': ['build_id', 'region_index', 'point_index'],
                    },
                ),
                migrations.CreateModel(
                    name='View',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('index', models.PositiveSmallIntegerField()),
                        ('heading', models.FloatField(blank=True, null=True)),
                        ('image', models.FileField(upload_to=geogame.maps.models.view_upload_to)),
                        ('thumb', models.FileField(upload_to=geogame.maps.models.view_upload_to)),
                        ('width', models.PositiveIntegerField()),
                        ('height', models.PositiveIntegerField()),
                        ('sha256', models.CharField(max_length=64)),
                        ('location', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='views', to='maps.location')),
                    ],
                    options={
                        'db_table': 'geogame_view',
                        'ordering': ['location_id', 'index'],
                    },
                ),
                migrations.AddIndex(
                    model_name='location',
                    index=models.Index(fields=['map', 'split'], name='geogame_loc_map_id_0a09ac_idx'),
                ),
                migrations.AddConstraint(
                    model_name='location',
                    constraint=models.UniqueConstraint(fields=('map', 'source', 'source_id'), name='unique_source_per_map'),
                ),
                migrations.AddConstraint(
                    model_name='buildpoint',
                    constraint=models.UniqueConstraint(fields=('build', 'region_index', 'point_index'), name='unique_build_point'),
                ),
                migrations.AddConstraint(
                    model_name='view',
                    constraint=models.UniqueConstraint(fields=('location', 'index'), name='unique_view_index'),
                ),
            ],
        ),
    ]
