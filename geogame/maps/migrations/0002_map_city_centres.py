"""Maps store their city centres (city mode read them from every location on each request): computed
here for the maps there are, then whenever locations are imported or built."""

from django.db import migrations, models

from geogame.maps.rules import city_centres


def store_city_centres(apps, schema_editor):
    Map = apps.get_model("maps", "Map")
    Location = apps.get_model("maps", "Location")
    for m in Map.objects.all():
        rows = Location.objects.filter(map=m).exclude(city="").values_list("city", "country", "lat", "lon")
        m.city_centres = {label: list(point) for label, point in city_centres(rows).items()}
        m.save(update_fields=["city_centres"])


class Migration(migrations.Migration):

    dependencies = [
        ("maps", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="map",
            name="city_centres",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(store_city_centres, migrations.RunPython.noop),
    ]
