"""The combined privacy score: a caption added to a photo never gives away less than the photo."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from geogame.privacy.scoring import c_star, combined_privacy, text_privacy
from harness.fixture_map import CITY_TINTS, make_image_bytes
from inference import registry
from inference.training import train, trained_model_create

STUTTGART = "Stuttgart, Germany"


@pytest.fixture(autouse=True)
def _in_process(settings):
    """The image score runs in this process (tests/test_privacy_worker.py runs it on a worker)."""
    settings.REDIS_URL = ""


@pytest.mark.parametrize("caption", ["", "lovely day", "Back in Stuttgart", "Shopping in Charlottesville"])
@pytest.mark.parametrize("image_score", [0.0, 0.02, 0.3, 0.9, 1.0])
@pytest.mark.parametrize("city_confidence", [0.2, 0.99])
def test_the_combined_score_is_never_above_the_photos_or_the_caption_with_its_city(
    caption, image_score, city_confidence
):
    result = combined_privacy(
        caption, image_city=STUTTGART, city_confidence=city_confidence, cutoff=0.5, image_score=image_score
    )
    with_city = text_privacy(caption, image_city=STUTTGART if city_confidence >= 0.5 else "")
    assert result.score == pytest.approx(min(image_score, with_city.score))
    assert result.as_dict()["set_by_photo"] == (image_score < with_city.score)


def test_a_photo_that_gives_its_district_away_is_not_hidden_by_its_caption():
    """The case reported: the photo alone at 0.02 came out at 0.50 with a caption (the photo's city
    scored like a caption naming it, at c* 0.5)."""
    result = combined_privacy("", image_city=STUTTGART, city_confidence=0.99, cutoff=0.5, image_score=0.02)
    assert result.score == 0.02 and result.as_dict()["set_by_photo"]
    assert result.added_city == STUTTGART and result.place.confidence == 1  # the city is still explained


def test_a_caption_agreeing_with_the_photo_scores_below_the_photos_city_alone():
    result = combined_privacy(
        "Back in Stuttgart", image_city=STUTTGART, city_confidence=0.99, cutoff=0.5, image_score=0.9
    )
    assert result.place.confidence == 101 and result.score == pytest.approx(1 - c_star(101))
    assert not result.as_dict()["set_by_photo"]


@pytest.mark.django_db
def test_through_the_api_photo_plus_caption_never_scores_above_the_photo(trainable_map):
    registry._load.cache_clear()
    train(trained_model_create(m=trainable_map, name="hierarchical"), seed=0)
    upload = make_image_bytes(seed=901, tint=CITY_TINTS[0])
    for caption in ("", "lovely day", "Back in Stuttgart"):
        response = Client().post(
            "/api/privacy/",
            {
                "image": SimpleUploadedFile("p.jpg", upload, content_type="image/jpeg"),
                "caption": caption,
                "map": trainable_map.slug,
            },
        )
        assert response.status_code == 200, response.content
        data = response.json()
        image, combined = data["image"], data["combined"]
        assert image["available"] and image["city"] == STUTTGART
        with_city = text_privacy(caption, image_city=STUTTGART).score
        assert combined["score"] == pytest.approx(min(image["score"], with_city), abs=1e-4)
        assert combined["score"] <= image["score"] and combined["score"] <= data["text"]["score"]
        assert combined["set_by_photo"] == (image["score"] < with_city)
    registry._load.cache_clear()
