"""The base map's cached layers (geogame.maps.basemap): city labels, lakes and admin-1 lines."""

import functools
import gzip

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from .basemap import ADMIN1_FILE, LAKES_FILE, city_labels_json, layer_json

LAYER_MAX_AGE_S = 7 * 86_400  # the same for every visitor and every game: nothing secret


@functools.cache
def _gzipped(body):
    return gzip.compress(body, mtime=0)


def cached_layer(request, body, etag):
    """A layer's JSON with its ETag (304 when the browser has it), cached publicly, gzipped for
    browsers that take it: the admin-1 lines are 1 MB as text, a quarter of that gzipped."""
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    elif "gzip" in request.headers.get("Accept-Encoding", ""):
        response = HttpResponse(_gzipped(body), content_type="application/json")
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(body, content_type="application/json")
    patch_vary_headers(response, ["Accept-Encoding"])
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={LAYER_MAX_AGE_S}"
    return response


@require_safe
def city_labels(request):
    return cached_layer(request, *city_labels_json())


@require_safe
def lakes(request):
    return cached_layer(request, *layer_json(LAKES_FILE))


@require_safe
def admin1_lines(request):
    return cached_layer(request, *layer_json(ADMIN1_FILE))
