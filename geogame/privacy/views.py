"""The privacy check: a page with a form, and the same check as a JSON endpoint."""

import contextlib

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from geogame.common.ratelimit import rate_limited
from geogame.game.views import json_error

from .selectors import privacy_maps
from .services import MAX_PHOTOS, PrivacyInputError, check_photo_size, image_work_slot, privacy_check_run

PHOTO_FIELDS = ("image", *(f"view{i}" for i in range(MAX_PHOTOS)))
ERR_FIELDS = "unexpected file field(s) {names}: send `image`, or `view0` to `view{last}`"
ERR_IMAGE_AND_VIEWS = "send either `image` or `view0`..., not both"
ERR_TWO_FILES = "field {name!r} holds {n} files; send one file per field"
ERR_REQUEST = "the request could not be read: {reason}"
REQUEST_ERRORS = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent, MultiPartParserError)


def _check_from_request(request):
    """Parse the form (multipart) and run the check; PrivacyInputError for bad input."""
    try:
        files, form = request.FILES, request.POST
    except REQUEST_ERRORS as exc:
        status = 400 if isinstance(exc, MultiPartParserError) else 413
        raise PrivacyInputError(ERR_REQUEST.format(reason=exc), status=status) from None
    unknown = sorted(set(files) - set(PHOTO_FIELDS))
    if unknown:
        raise PrivacyInputError(ERR_FIELDS.format(names=", ".join(unknown), last=MAX_PHOTOS - 1))
    if "image" in files and "view0" in files:
        raise PrivacyInputError(ERR_IMAGE_AND_VIEWS)
    uploads = []
    for name in PHOTO_FIELDS:
        found = files.getlist(name)
        if len(found) > 1:
            raise PrivacyInputError(ERR_TWO_FILES.format(name=name, n=len(found)))
        uploads += found
    for index, upload in enumerate(uploads, 1):
        check_photo_size(index=index, size=upload.size)  # before reading it
    # Photos are read and decoded, and their score awaited, holding one of the process's image slots
    # (503 when none frees, or when no worker returns the score in time).
    with image_work_slot() if uploads else contextlib.nullcontext():
        return privacy_check_run(
            photos=[upload.read() for upload in uploads],
            caption=form.get("caption", ""),
            map_slug=form.get("map", "").strip(),
            keep=form.get("keep", "").lower() in ("1", "true", "on", "yes"),
        )


def _retry_after(response, exc):
    if getattr(exc, "retry_after", None):
        response["Retry-After"] = str(exc.retry_after)
    return response


def _posted(request, name, default):
    """A form field to show again, or `default` (also when the body could not be read)."""
    if request.method != "POST":
        return default
    try:
        return request.POST.get(name, default)
    except REQUEST_ERRORS:
        return default


@require_http_methods(["GET", "POST"])
@rate_limited("upload")
def privacy_page(request):
    result, error, status, busy = None, None, 200, None
    if request.method == "POST":
        try:
            result = _check_from_request(request)
        except PrivacyInputError as exc:
            error, status, busy = exc.message, exc.status, exc
    maps = privacy_maps()
    chosen = _posted(request, "map", None)
    if chosen is None:
        chosen = next((m["slug"] for m in maps if not m["unavailable"]), "")
    response = render(
        request,
        "privacy/privacy.html",
        {
            "maps": maps,
            "chosen_map": chosen,
            "caption": _posted(request, "caption", ""),
            "result": result,
            "error": error,
            "max_photos": MAX_PHOTOS,
        },
        status=status,
    )
    return _retry_after(response, busy)


@csrf_exempt  # no session or account is involved: the same request from anywhere gets the same answer
@require_POST
@rate_limited("upload")
def api_privacy(request):
    try:
        return JsonResponse(_check_from_request(request))
    except PrivacyInputError as exc:
        return _retry_after(json_error(exc.message, status=exc.status), exc)
