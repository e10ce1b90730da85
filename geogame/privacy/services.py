"""The privacy check (seed 000): how much a photo and its caption give away about where they
were taken, before they are posted. Nothing is stored unless the user opts in."""

import contextlib
import io
import threading
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import slug_re
from django.db import transaction
from django.utils import timezone

from geogame.common import background, text_input
from geogame.common.errors import Refused
from geogame.game import machines
from geogame.maps import images
from geogame.maps.models import Map
from geogame.maps.rules import MAX_VIEWS as MAX_PHOTOS  # views of one place, as many as the players see

from . import scoring as privacy
from .models import PrivacyCheck, PrivacyCheckPhoto

PLAYER = "hierarchical"
IMAGE_SCORE_TASK = "inference.privacy_image_score"
# Photos wait here (decoded, as PNG without metadata) for the image score's worker, and are
# deleted once the request has its answer or gives up.
PENDING_DIR = "privacy-pending"
PENDING_MAX_AGE = timedelta(hours=1)  # older ones were left by a web process that died waiting
# Uploads are decoded no larger than this on their long side: the model resizes the short side to
# 256 (a 8:1 panorama keeps it), a kept copy is 1024 (images.DISPLAY_LONG_SIDE).
UPLOAD_LONG_SIDE = 2048

ERR_NOTHING = "send a photo, a caption, or both"
ERR_CAPTION_TOO_LONG = "caption is {n} characters; the limit is {limit}"
ERR_TOO_MANY_PHOTOS = "send at most {limit} photos (views of one place); got {n}"
ERR_PHOTO = "photo {index}: {reason}"
ERR_PHOTO_TOO_BIG = "photo {index}: file is {size} bytes; the limit is {limit}"
ERR_UNKNOWN_MAP = "unknown map {slug!r}"
REASON_PHOTOS_GONE = "the photos were deleted before a worker scored them (the request gave up waiting)"
REASON_NO_MAP = "no map chosen: pick a map whose hierarchical player is trained to score the photo"
WARN_GPS = (
    "Photo {index} carries GPS coordinates in its EXIF data ({lat:.5f}, {lon:.5f}): whoever gets "
    "the file knows where it was taken, whatever the scores say. Remove location data before posting."
)


class PrivacyInputError(Refused, ValueError):
    """An upload or caption the privacy check refuses."""


ERR_BUSY = "the privacy check is busy with other photos; try again in {retry_after} s"
BUSY_WAIT_S = 1.0  # a request waits this long for a slot, then is told to come back
BUSY_RETRY_AFTER_S = 5


ERR_NO_ANSWER = "no model worker scored the photo in time; try again in {retry_after} s"
NO_ANSWER_RETRY_AFTER_S = 30


class PrivacyNoAnswer(PrivacyInputError):
    """No worker returned the image score within GEOGAME_PRIVACY_SCORE_TIMEOUT_S (503 with Retry-After)."""

    def __init__(self):
        super().__init__(ERR_NO_ANSWER.format(retry_after=NO_ANSWER_RETRY_AFTER_S), status=503)
        self.retry_after = NO_ANSWER_RETRY_AFTER_S


class PrivacyBusy(PrivacyInputError):
    """Every image slot of this process is taken (503 with Retry-After)."""

    def __init__(self):
        super().__init__(ERR_BUSY.format(retry_after=BUSY_RETRY_AFTER_S), status=503)
        self.retry_after = BUSY_RETRY_AFTER_S


_slots_lock = threading.Lock()
_slots = (None, None)  # (GEOGAME_UPLOAD_CONCURRENCY it was made for, its semaphore)


def _image_slots():
    global _slots
    size = max(1, settings.GEOGAME_UPLOAD_CONCURRENCY)
    with _slots_lock:
        if _slots[0] != size:
            _slots = (size, threading.BoundedSemaphore(size))
        return _slots[1]


@contextlib.contextmanager
def image_work_slot(wait_s=BUSY_WAIT_S):
    """Hold one of this process's GEOGAME_UPLOAD_CONCURRENCY slots for decoding and scoring uploaded
    photos, or raise PrivacyBusy after `wait_s`. A burst of large uploads then costs at most that many
    decodes' memory at once; the rest are refused quickly instead of queueing without bound."""
    slots = _image_slots()
    if not slots.acquire(timeout=wait_s):
        raise PrivacyBusy()
    try:
        yield
    finally:
        slots.release()


def decode_photo(data):
    """An uploaded photo decoded under the upload limits, reduced to UPLOAD_LONG_SIDE at most (what
    the model and a kept copy need), or ImageRejected."""
    return images.open_image(
        data,
        max_bytes=settings.GEOGAME_MAX_IMAGE_BYTES,
        max_pixels=settings.GEOGAME_MAX_IMAGE_PIXELS,
        long_side=UPLOAD_LONG_SIDE,
        max_decoded_pixels=settings.GEOGAME_MAX_UPLOAD_PIXELS,
    )


def check_photo_size(*, index, size):
    """Refuse an upload over the byte limit before reading it (413)."""
    limit = settings.GEOGAME_MAX_IMAGE_BYTES
    if size > limit:
        raise PrivacyInputError(ERR_PHOTO_TOO_BIG.format(index=index, size=size, limit=limit), status=413)


def privacy_check_run(*, photos, caption="", map_slug="", keep=False):
    """The check's result as JSON-ready data, or PrivacyInputError saying what is wrong.

    1. Check the caption's length and decode each photo under the image limits (type, size,
       pixel count, decompression bombs: geogame.maps.images.open_image). Each photo's EXIF GPS is
       read from the bytes as sent, before anything is re-encoded.
    2. Image score from the map's hierarchical player, computed by a worker (image_score); where
       there is none the result says why.
    3. Text score of the caption, and the combined score: the caption with the photo's city.
    4. Only if `keep`: store the caption, the result and the photos re-encoded without metadata.
    """
    caption = (caption or "").strip()
    if len(caption) > privacy.MAX_CAPTION_CHARS:
        raise PrivacyInputError(ERR_CAPTION_TOO_LONG.format(n=len(caption), limit=privacy.MAX_CAPTION_CHARS))
    try:  # NUL and other control characters: PostgreSQL would refuse to keep the caption
        text_input.check_text(caption, what="the caption", max_chars=privacy.MAX_CAPTION_CHARS)
    except ValueError as exc:
        raise PrivacyInputError(str(exc)) from None
    if not photos and not caption:
        raise PrivacyInputError(ERR_NOTHING)
    if len(photos) > MAX_PHOTOS:
        raise PrivacyInputError(ERR_TOO_MANY_PHOTOS.format(limit=MAX_PHOTOS, n=len(photos)))
    m = None
    if map_slug:
        # Only a slug is looked up: PostgreSQL fails on a NUL in a query's parameter.
        m = Map.objects.filter(slug=map_slug).first() if slug_re.fullmatch(map_slug) else None
        if m is None:
            raise PrivacyInputError(ERR_UNKNOWN_MAP.format(slug=map_slug))

    decoded, gps = [], []
    for index, data in enumerate(photos, 1):
        check_photo_size(index=index, size=len(data))
        try:
            decoded.append(decode_photo(data))
        except images.ImageRejected as exc:
            status = 413 if isinstance(exc, images.ImageTooLarge) else 400
            raise PrivacyInputError(ERR_PHOTO.format(index=index, reason=exc), status=status) from None
        position = images.exif_gps(data)
        if position is not None:
            gps.append({"photo": index, "lat": position[0], "lon": position[1]})

    image = image_score(decoded, m) if decoded else None
    text = privacy.text_privacy(caption)
    if image and image["available"]:
        combined = privacy.combined_privacy(
            caption,
            image_city=image["city"],
            city_confidence=image["city_confidence"],
            cutoff=image["cutoff"],
            image_score=image["score"],
        )
    else:
        combined = text
    text_result = text.as_dict()
    if not caption:
        text_result["message"] = "no caption"
    result = {
        "image": image,
        "text": text_result,
        "combined": combined.as_dict(),
        "exif_gps": gps,
        "warnings": [WARN_GPS.format(index=g["photo"], lat=g["lat"], lon=g["lon"]) for g in gps],
        "kept": None,
    }
    if keep:
        result["kept"] = privacy_check_keep(m=m, caption=caption, result=result, photos=decoded).id
    return result


def image_score(decoded, m):
    """The hierarchical player's verdict on the decoded photos, or why there is none. The model
    runs in the IMAGE_SCORE_TASK (a Celery worker, or a model process: never in the web process);
    the photos reach it as files in PENDING_DIR, deleted once the answer is in or given up on."""
    if m is None:
        return {"available": False, "reason": REASON_NO_MAP}
    reason = machines.availability(PLAYER, m)  # no trained model: no need to ask a worker
    if reason:
        return {"available": False, "map": m.slug, "reason": reason}
    batch = uuid.uuid4().hex
    names = []
    try:
        for index, im in enumerate(decoded):
            names.append(default_storage.save(f"{PENDING_DIR}/{batch}-{index}.png", ContentFile(_png(im))))
        timeout_s = settings.GEOGAME_PRIVACY_SCORE_TIMEOUT_S
        return background.wait_for(IMAGE_SCORE_TASK, m.id, names, timeout_s=timeout_s)
    except background.NoAnswer:
        raise PrivacyNoAnswer() from None
    finally:
        for name in names:
            default_storage.delete(name)


def _png(im):
    """The decoded pixels, losslessly (the score must not depend on the path) and without metadata."""
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def privacy_check_keep(*, m, caption, result, photos):
    """Store a check the user opted to keep. The photos are re-encoded at display size with no
    metadata, and the result keeps only that a photo had GPS tags, not where they pointed."""
    kept = dict(result, exif_gps=[{"photo": g["photo"]} for g in result["exif_gps"]], warnings=[])
    saved = []
    try:
        with transaction.atomic():
            check = PrivacyCheck.objects.create(map=m, caption=caption, result=kept)
            for index, im in enumerate(photos):
                data = images.encode_jpeg(images.fit_within(im, images.DISPLAY_LONG_SIDE))
                photo = PrivacyCheckPhoto(privacy_check=check, index=index, sha256=images.sha256_hex(data))
                photo.image.save(f"{check.id}-{index}.jpg", ContentFile(data), save=False)
                saved.append(photo.image.name)
                photo.save()
    except BaseException:
        for name in saved:  # no file outlives a rolled-back check
            default_storage.delete(name)
        raise
    return check


def privacy_checks_delete(checks):
    """Delete kept checks (a queryset) and, once that commits, their photo files; how many checks."""
    names = list(PrivacyCheckPhoto.objects.filter(privacy_check__in=checks).values_list("image", flat=True))
    with transaction.atomic():
        deleted = checks.count()
        checks.delete()  # their photos' rows go with them (CASCADE)
        transaction.on_commit(lambda: [default_storage.delete(name) for name in names])
    return deleted


def privacy_checks_purge(*, days, now=None):
    """Delete kept checks older than `days` (GEOGAME_PRIVACY_RETENTION_DAYS), and pending photos a
    web process left behind; how many checks."""
    now = now or timezone.now()
    privacy_pending_purge(now=now)
    return privacy_checks_delete(PrivacyCheck.objects.filter(created_at__lt=now - timedelta(days=days)))


def privacy_pending_purge(*, now):
    """Delete photos left in PENDING_DIR for over PENDING_MAX_AGE (their web process died while it
    waited for the score); how many."""
    try:
        names = default_storage.listdir(PENDING_DIR)[1]
    except FileNotFoundError:
        return 0
    paths = [f"{PENDING_DIR}/{name}" for name in names]
    old = [path for path in paths if default_storage.get_modified_time(path) < now - PENDING_MAX_AGE]
    for path in old:
        default_storage.delete(path)
    return len(old)
