"""The privacy app takes over its models from the geogame and inference app: their tables stay as they are
(db_table), only Django's state moves (geogame 0008 and inference 0003 delete them there)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('maps', '0001_initial'),
        ('inference', '0002_privacycheck'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables exist (the geogame migrations created them): only the state changes.
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='PrivacyCheck',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('caption', models.TextField(blank=True, default='')),
                        ('result', models.JSONField(default=dict)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('map', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='maps.map')),
                    ],
                    options={
                        'db_table': 'inference_privacycheck',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='PrivacyCheckPhoto',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('index', models.PositiveSmallIntegerField()),
                        ('image', models.FileField(upload_to='privacy/')),
                        ('sha256', models.CharField(max_length=64)),
                        ('privacy_check', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='photos', to='privacy.privacycheck')),
                    ],
                    options={
                        'db_table': 'inference_privacycheckphoto',
                        'ordering': ['privacy_check_id', 'index'],
                        'constraints': [models.UniqueConstraint(fields=('privacy_check', 'index'), name='unique_privacy_photo_index')],
                    },
                ),
            ],
        ),
    ]
