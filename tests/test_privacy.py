"""The privacy check: seed 000's scores as plain functions, then the page and the JSON endpoint."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from geogame.maps.images import exif_gps
from geogame.maps.models import Location
from geogame.privacy import services as privacy_services
from geogame.privacy.models import PrivacyCheck, PrivacyCheckPhoto
from geogame.privacy.scoring import (
    MAX_CAPTION_CHARS,
    S_KM2,
    area_term,
    c_star,
    combined_privacy,
    text_privacy,
    text_score,
)
from harness.fixture_map import CITY_TINTS, make_image_bytes
from inference import registry
from inference.training import train, trained_model_create

API = "/api/privacy/"
PAGE = "/privacy/"


@pytest.fixture(autouse=True)
def _in_process(settings):
    """The image score runs in this process (tests/test_privacy_worker.py runs it on a worker)."""
    settings.REDIS_URL = ""


@pytest.mark.parametrize(
    "confidence,expected",
    [
        (0, 0.0),
        (0.5, 0.0),
        (1, 0.5),
        (10, 0.5 + 0.25 * 10 / 99),
        (99, 0.75),
        (100, 0.75 + 0.25 * 100 / 300),
        (300, 1.0),
        (301, 0.0),
    ],
)
def test_c_star_follows_the_seeds_thresholds(confidence, expected):
    assert c_star(confidence) == pytest.approx(expected)


def test_the_area_term_caps_at_one_and_treats_unknown_regions_as_large():
    assert area_term(S_KM2 / 4) == pytest.approx(0.25)
    assert area_term(S_KM2 * 10) == 1.0
    assert area_term(None) == 1.0
    assert text_score(1, S_KM2 / 2) == pytest.approx(0.25)
    assert text_score(101, 10 * S_KM2) == pytest.approx(1 - c_star(101))


def test_a_text_without_places_scores_one():
    for text in ("", "🎉🌴🎉", "lovely day"):
        result = text_privacy(text)
        assert result.score == 1.0 and result.places == []
        assert result.as_dict()["message"] == "no places found"


def test_the_combined_score_adds_the_photos_city_when_the_photo_is_sure_of_it():
    caption = "Theme park day in Orlando"
    alone = text_privacy(caption)
    sure = combined_privacy(caption, image_city="Orlando, United States", city_confidence=0.9, cutoff=0.5)
    assert sure.added_city == "Orlando, United States"
    assert sure.place.confidence == 101 and sure.score == pytest.approx(1 - c_star(101))
    assert sure.score < alone.score == 0.5
    unsure = combined_privacy(caption, image_city="Orlando, United States", city_confidence=0.4, cutoff=0.5)
    assert unsure.added_city == "" and unsure.score == alone.score


def test_the_photos_city_alone_is_scored_like_a_caption_naming_it():
    result = combined_privacy(
        "", image_city="Charlottesville, United States", city_confidence=1.0, cutoff=0.5
    )
    assert result.place.place.name == "Charlottesville"
    assert result.score == pytest.approx(text_privacy("Charlottesville").score)


def test_a_photo_city_missing_from_the_gazetteer_is_added_as_words():
    result = combined_privacy("", image_city="Kleinwinzigdorf, Germany", city_confidence=1.0, cutoff=0.5)
    assert result.added_city == "Kleinwinzigdorf, Germany"
    assert result.place.place.name == "Germany" and result.place.mentions[0].text == "Germany"


# The endpoint and the page.


def photo(data, name="photo.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def post(data, client=None):
    return (client or Client()).post(API, data)


def nothing_kept(settings):
    return not PrivacyCheck.objects.exists() and not (settings.MEDIA_ROOT / "privacy").exists()


def test_a_photo_and_its_caption_get_the_image_text_and_combined_scores(trainable_map, settings):
    train(trained_model_create(m=trainable_map, name="hierarchical"), seed=0)

    stuttgart = make_image_bytes(seed=901, tint=CITY_TINTS[0])  # Stuttgart's colour cast
    response = post({"image": photo(stuttgart), "caption": "Back in Stuttgart", "map": trainable_map.slug})
    assert response.status_code == 200, response.content
    data = response.json()
    image = data["image"]
    assert image["available"] and image["map"] == trainable_map.slug
    assert image["city"] == "Stuttgart, Germany" and image["city_confidence"] >= image["cutoff"]
    assert image["score"] == pytest.approx(1 - image["district_confidence"], abs=1e-4)
    confidences = [c["confidence"] for c in image["top_cities"]]
    assert image["top_cities"][0]["city"] == image["city"] and confidences == sorted(
        confidences, reverse=True
    )
    assert len(image["views"]) == 1 and image["views"][0]["city"] == image["city"]
    assert data["text"]["place"]["name"] == "Stuttgart" and data["text"]["confidence"] == 1
    combined = data["combined"]
    assert combined["added_city"] == "Stuttgart, Germany"
    assert combined["confidence"] == 101 and combined["places"][0]["reasons"] == [
        "also predicted from the photo"
    ]
    assert combined["score"] < data["text"]["score"]

    # Three views of one place: one verdict from their averaged logits, and each view's own.
    views = {f"view{k}": photo(make_image_bytes(seed=910 + k, tint=CITY_TINTS[1])) for k in range(3)}
    data = post({**views, "map": trainable_map.slug}).json()
    assert data["image"]["city"] == "Orleans, France" and len(data["image"]["views"]) == 3
    assert all(v["city"] == "Orleans, France" for v in data["image"]["views"])
    assert data["text"]["message"] == "no caption" and data["text"]["score"] == 1.0
    assert data["combined"]["place"]["label"] == "Orléans, France"
    assert data["exif_gps"] == [] and data["kept"] is None
    assert nothing_kept(settings)

    page = Client().post(
        PAGE, {"view0": photo(stuttgart), "caption": "Back in Stuttgart", "map": trainable_map.slug}
    )
    html = page.content.decode()
    assert page.status_code == 200 and 'id="views"' in html
    assert "Looks like Stuttgart, Germany (" in html and "city, Stuttgart, Germany, added" in html

    # The upload path and the stored-location path give the same verdict on the same views.
    player = registry.load_player("hierarchical", trainable_map)
    location = Location.objects.filter(map=trainable_map, split="test").first()
    pictures = []
    for view in location.views.all():
        with view.image.open("rb") as f:
            pictures.append(Image.open(io.BytesIO(f.read())).convert("RGB"))
    from_pictures, from_location = player.predict_images(pictures), player.predict([location])[0]
    assert from_pictures.city == from_location.city
    for key in ("city_confidence", "district_confidence", "privacy_score"):
        assert from_pictures.details[key] == pytest.approx(from_location.details[key], abs=1e-5)


def test_without_a_trained_player_the_image_score_says_why_and_the_caption_is_still_scored(trainable_map):
    data = post({"image": photo(make_image_bytes()), "caption": "Went shopping in Charlottesville"}).json()
    assert data["image"] == {"available": False, "reason": privacy_services.REASON_NO_MAP}
    data = post(
        {
            "image": photo(make_image_bytes()),
            "caption": "Went shopping in Charlottesville",
            "map": trainable_map.slug,
        }
    ).json()
    assert data["image"]["available"] is False
    assert "no trained hierarchical model for map trainable" in data["image"]["reason"]
    assert data["text"]["place"]["name"] == "Charlottesville"
    assert data["combined"] == data["text"]


def test_exif_gps_is_reported_as_the_most_direct_leak(db, settings):
    data = post({"image": photo(make_image_bytes(exif_text="holiday")), "caption": "guess where"}).json()
    [gps] = data["exif_gps"]
    assert gps["photo"] == 1
    assert gps["lat"] == pytest.approx(48 + 46 / 60 + 33 / 3600) and gps["lon"] == pytest.approx(
        9 + 10 / 60 + 58 / 3600
    )
    assert "GPS coordinates" in data["warnings"][0] and "48.77583" in data["warnings"][0]
    assert nothing_kept(settings)


def test_a_kept_check_stores_the_photos_without_metadata(db, settings):
    views = {"view0": photo(make_image_bytes(exif_text="holiday")), "view1": photo(make_image_bytes(seed=3))}
    data = post({**views, "caption": "Weekend in Philly", "keep": "on"}).json()
    check = PrivacyCheck.objects.get(id=data["kept"])
    assert check.caption == "Weekend in Philly"
    assert check.result["text"]["place"]["name"] == "Philadelphia"
    assert (
        check.result["exif_gps"] == [{"photo": 1}] and check.result["warnings"] == []
    )  # not where it points
    photos = list(PrivacyCheckPhoto.objects.filter(privacy_check=check))
    assert [p.index for p in photos] == [0, 1]
    for p in photos:
        with p.image.open("rb") as f:
            stored = f.read()
        assert exif_gps(stored) is None and not Image.open(io.BytesIO(stored)).getexif()
        assert b"SecretCam" not in stored


def bomb():
    buf = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "data,status,message",
    [
        ({"image": photo(b"")}, 400, "photo 1: file is empty"),
        ({"image": photo(b"just some text", "notes.jpg")}, 400, "photo 1: not an image"),
        (
            {"view0": photo(make_image_bytes()), "view1": photo(b"%PDF-1.4", "a.pdf")},
            400,
            "photo 2: not an image",
        ),
        ({"image": photo(make_image_bytes(fmt="GIF"), "a.gif")}, 400, "format GIF is not accepted"),
        ({"image": photo(bomb(), "bomb.png", "image/png")}, 413, "decompression bomb"),
        ({"caption": "a" * 100_000}, 400, f"caption is 100000 characters; the limit is {MAX_CAPTION_CHARS}"),
        ({}, 400, privacy_services.ERR_NOTHING),
        ({"caption": "   "}, 400, privacy_services.ERR_NOTHING),
        ({"caption": "Orlando", "map": "atlantis"}, 400, "unknown map 'atlantis'"),
        ({"image": photo(make_image_bytes()), "view0": photo(make_image_bytes())}, 400, "either `image` or"),
        ({"view3": photo(make_image_bytes())}, 400, "unexpected file field(s) view3"),
    ],
)
def test_bad_input_gets_a_clear_error(db, settings, data, status, message):
    response = post(data)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert nothing_kept(settings)


def test_a_photo_over_the_byte_limit_is_refused_unread(db, settings):
    settings.GEOGAME_MAX_IMAGE_BYTES = 5_000
    data = make_image_bytes()
    response = post({"image": photo(data)})
    assert response.status_code == 413
    assert response.json()["error"] == f"photo 1: file is {len(data)} bytes; the limit is 5000"


def test_a_photo_over_the_pixel_limit_is_refused(db, settings):
    settings.GEOGAME_MAX_IMAGE_PIXELS = 50_000
    response = post({"image": photo(make_image_bytes(size=(320, 240)))})
    assert response.status_code == 413
    assert "320x240 = 76800 pixels; the limit is 50000" in response.json()["error"]


def test_a_caption_of_emoji_only_finds_no_places(db):
    response = post({"caption": "🎉🌴☀️🏖️"})
    assert response.status_code == 200
    data = response.json()
    assert data["text"]["places"] == [] and data["text"]["message"] == "no places found"
    assert data["text"]["score"] == data["combined"]["score"] == 1.0
    assert data["image"] is None


def test_a_malformed_request_is_a_clear_error(db):
    response = Client().post(API, data=b"--x\r\n", content_type="multipart/form-data")
    assert response.status_code == 400 and "could not be read" in response.json()["error"]
    assert Client().get(API).status_code == 405


def test_uploads_are_rate_limited(db, settings):
    settings.GEOGAME_RATE_LIMITS = dict(settings.GEOGAME_RATE_LIMITS, upload=(2, 60))
    client = Client()
    assert [post({"caption": "Orlando"}, client).status_code for _ in range(3)] == [200, 200, 429]


def test_the_page_keeps_csrf_and_shows_the_result(trainable_map):
    client = Client(enforce_csrf_checks=True)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="csrfmiddlewaretoken"' in html and 'enctype="multipart/form-data"' in html
    assert "Trainable: photo check not ready for this map yet" in html
    assert 'id="nav-privacy"' in html

    assert client.post(PAGE, {"caption": "Weekend in Philly"}).status_code == 403
    token = client.cookies["csrftoken"].value
    page = client.post(PAGE, {"caption": "Weekend in Philly", "csrfmiddlewaretoken": token})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Philadelphia, Pennsylvania, United States" in html and "colloquial name" in html
    assert "Nothing was stored." in html
    for developer_word in ("c*", "area term", "README", "unavailable:"):
        assert developer_word not in html, developer_word

    page = client.post(PAGE, {"caption": "x" * (MAX_CAPTION_CHARS + 1), "csrfmiddlewaretoken": token})
    assert page.status_code == 400 and 'id="privacy-error"' in page.content.decode()
    # The JSON endpoint needs no token: it holds no session state.
    assert client.post(API, {"caption": "Orlando"}).status_code == 200


def encoded(im, fmt):
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def test_a_small_png_of_huge_dimensions_is_refused_before_it_costs_memory(db, settings):
    """Issue 20: a 186 KB PNG of 7990x8000 px (under the import limit) took 0.8 GB to decode."""
    data = encoded(Image.new("P", (7990, 8000)), "PNG")
    assert len(data) < 100_000
    response = post({"image": photo(data, "huge.png", "image/png")})
    assert response.status_code == 413
    assert response.json()["error"] == (
        "photo 1: image is 7990x8000 = 63920000 pixels; an upload may decode to at most "
        f"{settings.GEOGAME_MAX_UPLOAD_PIXELS} pixels (JPEG photos are decoded reduced, so larger ones pass)"
    )
    assert nothing_kept(settings)


def test_large_photos_are_decoded_reduced_to_what_the_check_needs(db, settings):
    # A 24 Mpx JPEG, over the upload limit at full size, is decoded at 1/2 scale (3000x2000) in draft
    # mode, then reduced; a PNG within the limit is decoded whole, then reduced.
    settings.GEOGAME_MAX_UPLOAD_PIXELS = 8_000_000
    jpeg = encoded(Image.new("RGB", (6000, 4000), (120, 80, 40)), "JPEG")
    png = encoded(Image.new("RGB", (2800, 2100), (40, 80, 120)), "PNG")
    for data, expected in ((jpeg, (2048, 1365)), (png, (2048, 1536))):
        assert privacy_services.decode_photo(data).size == expected
        assert max(expected) == privacy_services.UPLOAD_LONG_SIDE
    response = post({"image": photo(jpeg)})
    assert response.status_code == 200, response.content
    assert response.json()["image"]["available"] is False  # no map chosen: decoded, not scored
    settings.GEOGAME_MAX_UPLOAD_PIXELS = 2_000_000  # under even the JPEG's smallest draft
    assert post({"image": photo(jpeg)}).status_code == 413


def test_image_work_is_bounded_per_process_and_a_full_house_answers_503_at_once(db, settings):
    """Another thread holds the only slot: an upload is refused with Retry-After (after the short
    wait), a caption alone still passes, and once the slot is free uploads pass again."""
    import threading

    settings.GEOGAME_UPLOAD_CONCURRENCY = 1
    held, release = threading.Event(), threading.Event()

    def hold():
        with privacy_services.image_work_slot():
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        busy = post({"image": photo(make_image_bytes())})
        assert busy.status_code == 503
        assert busy["Retry-After"] == str(privacy_services.BUSY_RETRY_AFTER_S)
        assert busy.json()["error"] == privacy_services.ERR_BUSY.format(
            retry_after=privacy_services.BUSY_RETRY_AFTER_S
        )
        assert post({"caption": "Orlando"}).status_code == 200
    finally:
        release.set()
        holder.join(10)
    assert not holder.is_alive()
    assert post({"image": photo(make_image_bytes())}).status_code == 200


def test_photos_a_dead_web_process_left_pending_are_purged_after_an_hour(db, settings):
    import os
    import time

    folder = settings.MEDIA_ROOT / privacy_services.PENDING_DIR
    folder.mkdir(parents=True)
    left, waiting = folder / "left-0.jpg", folder / "waiting-0.jpg"
    for path in (left, waiting):
        path.write_bytes(make_image_bytes())
    hours_ago = time.time() - privacy_services.PENDING_MAX_AGE.total_seconds() - 60
    os.utime(left, (hours_ago, hours_ago))
    privacy_services.privacy_checks_purge(days=30)
    assert sorted(folder.iterdir()) == [waiting]
