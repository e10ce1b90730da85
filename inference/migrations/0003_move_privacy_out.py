"""The privacy checks move to the privacy app and TrainedModel.map points to maps.Map: state only, the
tables stay (inference_privacycheck keeps its name)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inference', '0002_privacycheck'),
        ('maps', '0001_initial'),
        ('privacy', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables exist (geogame and inference migrations created them): only the state changes.
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name='privacycheckphoto',
                    name='privacy_check',
                ),
                migrations.AlterField(
                    model_name='trainedmodel',
                    name='map',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='trained_models', to='maps.map'),
                ),
                migrations.DeleteModel(
                    name='PrivacyCheck',
                ),
                migrations.DeleteModel(
                    name='PrivacyCheckPhoto',
                ),
            ],
        ),
    ]
