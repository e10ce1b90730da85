"""Seed 000's privacy scores for a caption, alone or with the city a photo shows. No Django.

1 means the text gives nothing away about where it was written; 0 that it names a small place
with certainty. The place found with the highest confidence v (geogame.privacy.geoparse, 0..300) sets

    c* = 0.5                      if v = 1
         0.5  + 0.25 * v / 99     if 1 < v < 100
         0.75 + 0.25 * v / 300    if 100 <= v <= 300
         0                        otherwise
    score = (1 - c*) * min(area / s, 1)

and a text with no place at all scores 1 (the seed's "no prediction: 100"). The combined score
(seed 000, 4.3) is the same score of the caption with the photo's predicted city added to it,
so a caption that agrees with the photo comes out lower than either alone; and it is never above
the photo's own score, as adding a caption cannot give away less than the photo alone (the text
score stops at the city, the photo's goes down to the district).

The image score itself is inference.heads.privacy_score: 1 if the city confidence is below
the cutoff c, else 1 - the district confidence.
"""

from dataclasses import dataclass, field

from . import geoparse

# s, the area of a small, specific place. With city areas estimated from population
# (geoparse.PEOPLE_PER_KM2) this puts the seed's example "Went shopping in Charlottesville",
# a city of 46,597, at its reported 0.39: 0.5 * (46,597 / 1,500) / 40.
S_KM2 = 40.0
MAX_CAPTION_CHARS = 2200  # Instagram's caption limit; a longer text is no caption


def c_star(confidence: float) -> float:
    """The seed's thresholds, as written (so 99 maps to 0.75 and 100 to 0.83)."""
    if confidence == 1:
        return 0.5
    if 1 < confidence < 100:
        return 0.5 + 0.25 * confidence / 99
    if 100 <= confidence <= 300:
        return 0.75 + 0.25 * confidence / 300
    return 0.0


def area_term(area_km2: float | None, s: float = S_KM2) -> float:
    """min(area / s, 1); a region with no area on record (a US state) is far larger than s."""
    return 1.0 if area_km2 is None else min(area_km2 / s, 1.0)


def text_score(confidence: float, area_km2: float | None, s: float = S_KM2) -> float:
    return (1.0 - c_star(confidence)) * area_term(area_km2, s)


@dataclass
class TextPrivacy:
    score: float
    places: list = field(default_factory=list)  # [geoparse.Found], the scored one first
    c_star: float = 0.0
    area_term: float = 1.0
    added_city: str = ""  # the photo's city, added to the text for the combined score
    photo_score: float | None = None  # combined only: the photo's own score, when it set the score

    @property
    def place(self):
        return self.places[0] if self.places else None

    def as_dict(self):
        return {
            "score": round(self.score, 4),
            "confidence": self.place.confidence if self.place else 0,
            "c_star": round(self.c_star, 4),
            "area_term": round(self.area_term, 4),
            "place": self.place.as_dict() if self.place else None,
            "places": [f.as_dict() for f in self.places],
            "added_city": self.added_city,
            "set_by_photo": self.photo_score is not None,
            "message": "" if self.places else "no places found",
        }


def text_privacy(text: str, *, image_city: str = "", s: float = S_KM2) -> TextPrivacy:
    """The score of `text`; `image_city` ("City, Country"), if given, counts as named in it.
    A city the gazetteer lacks is added as words, as the seed adds it."""
    extra = []
    if image_city:
        place = geoparse.city_place(image_city)
        if place is None:
            text = f"{text}\n{image_city}"
        else:
            extra = [place]
    places = geoparse.find_places(text, extra)
    if not places:
        return TextPrivacy(1.0, added_city=image_city)
    top = places[0]
    cs, at = c_star(top.confidence), area_term(top.place.area_km2, s)
    return TextPrivacy((1.0 - cs) * at, places, cs, at, image_city)


def combined_privacy(
    caption: str,
    *,
    image_city: str,
    city_confidence: float,
    cutoff: float,
    image_score: float = 1.0,
    s: float = S_KM2,
) -> TextPrivacy:
    """The caption scored with the photo's city added, when the photo gives its city away
    (confidence >= cutoff, the image score's own test), otherwise the caption alone; and no
    higher than `image_score`, the photo's own score (then `photo_score` says so)."""
    added = image_city if image_city and city_confidence >= cutoff else ""
    result = text_privacy(caption, image_city=added, s=s)
    if image_score < result.score:
        result.score = result.photo_score = image_score
    return result
