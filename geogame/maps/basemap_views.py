"""The base map's cached layers: city labels (geogame.maps.basemap)."""

from django.http import HttpResponse, HttpResponseNotModified
from django.views.decorators.http import require_safe

from .basemap import city_labels_json

CITY_LABELS_MAX_AGE_S = 7 * 86_400  # the same for every visitor and every game: nothing secret


@require_safe
def city_labels(request):
    body, etag = city_labels_json()
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={CITY_LABELS_MAX_AGE_S}"
    return response
