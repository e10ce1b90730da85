"""City maps score coordinate guesses on their own extent, as region maps do (they used the world
scale): recompute scale_km for existing city maps with the importer's pure function."""

from django.db import migrations

from geogame.maps.rules import map_scale_km


def city_maps_on_their_own_scale(apps, schema_editor):
    Map = apps.get_model("geogame", "Map")
    Location = apps.get_model("geogame", "Location")
    for m in Map.objects.filter(kind="city"):
        points = list(Location.objects.filter(map=m).values_list("lat", "lon"))
        Map.objects.filter(pk=m.pk).update(scale_km=map_scale_km("city", points))


def city_maps_on_the_world_scale(apps, schema_editor):
    Map = apps.get_model("geogame", "Map")
    Map.objects.filter(kind="city").update(scale_km=map_scale_km("world", []))


class Migration(migrations.Migration):
    dependencies = [
        ("geogame", "0006_play_split"),
    ]

    operations = [migrations.RunPython(city_maps_on_their_own_scale, city_maps_on_the_world_scale)]
