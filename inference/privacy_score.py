"""The model's part of the privacy check (geogame.privacy): the hierarchical player's verdict on
photos the web process stored. It runs as the task inference.privacy_image_score, in a worker or
a model process, never in the web process."""

from django.core.files.storage import default_storage

from geogame.maps.models import Map
from geogame.privacy.services import (
    ERR_UNKNOWN_MAP,
    PENDING_DIR,
    PLAYER,
    REASON_PHOTOS_GONE,
    decode_photo,
)

from .artefacts import ArtefactError
from .heads import DEFAULT_CITY_CUTOFF
from .players import PlayerUnavailable
from .registry import load_player


def privacy_image_score_run(*, map_id, photo_names):
    """The IMAGE_SCORE_TASK's body: the stored photos scored by the map's hierarchical player."""
    m = Map.objects.filter(id=map_id).first()
    if m is None:
        return {"available": False, "reason": ERR_UNKNOWN_MAP.format(slug=map_id)}
    decoded = []
    for name in photo_names:
        if not name.startswith(f"{PENDING_DIR}/"):
            raise ValueError(f"not a pending privacy photo: {name!r}")
        try:
            with default_storage.open(name, "rb") as f:
                decoded.append(decode_photo(f.read()))
        except FileNotFoundError:  # a late delivery: the request gave up and deleted its photos
            return {"available": False, "map": m.slug, "reason": REASON_PHOTOS_GONE}
    return _image_result(decoded, m)


def _image_result(decoded, m):
    """The hierarchical player's verdict on the photos, or why there is none."""
    try:
        prediction = load_player(PLAYER, m).predict_images(decoded)
    except (PlayerUnavailable, ArtefactError) as exc:
        return {"available": False, "map": m.slug, "reason": str(exc)}
    d = prediction.details
    return {
        "available": True,
        "map": m.slug,
        "score": round(d["privacy_score"], 4),
        "cutoff": DEFAULT_CITY_CUTOFF,
        "city": prediction.city,
        "city_confidence": round(d["city_confidence"], 4),
        "district_confidence": round(d["district_confidence"], 4),
        "district": {"lat": prediction.top_lat, "lon": prediction.top_lon},
        "top_cities": [dict(c, confidence=round(c["confidence"], 4)) for c in d["top_cities"]],
        "views": [
            {k: round(v, 4) if isinstance(v, float) else v for k, v in view.items()} for view in d["views"]
        ],
    }


