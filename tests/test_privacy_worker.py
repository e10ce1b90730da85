"""The privacy check's image score through a real Celery worker on Redis (the production path):
the web side stores the decoded photos, sends inference.privacy_image_score and waits for its
result; with no worker answering in time it says so (503) and deletes the photos."""

import re

import pytest
from django.test import Client

from geogame.privacy import services as privacy_services
from harness.fixture_map import CITY_TINTS, make_image_bytes
from harness.worker import wait_until
from inference import registry
from inference.training import train, trained_model_create
from tests.test_celery_worker import broker, workers  # noqa: F401  (fixtures)
from tests.test_privacy import photo

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
SUCCEEDED = re.compile(r"Task inference\.privacy_image_score\[[0-9a-f-]+\] succeeded")


def pending_photos(settings):
    folder = settings.MEDIA_ROOT / privacy_services.PENDING_DIR
    return sorted(folder.iterdir()) if folder.exists() else []


def test_the_image_score_runs_on_a_worker_and_the_request_waits_for_it(
    trainable_map,
    broker,  # noqa: F811
    workers,  # noqa: F811
    settings,
):
    registry._load.cache_clear()
    train(trained_model_create(m=trainable_map, name="hierarchical"), seed=0)
    stuttgart = make_image_bytes(seed=901, tint=CITY_TINTS[0])
    form = {"caption": "Back in Stuttgart", "map": trainable_map.slug}

    settings.GEOGAME_PRIVACY_SCORE_TIMEOUT_S = 1  # no worker yet: nobody answers
    response = Client().post("/api/privacy/", {**form, "image": photo(stuttgart)})
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(privacy_services.NO_ANSWER_RETRY_AFTER_S)
    assert response.json()["error"] == privacy_services.ERR_NO_ANSWER.format(
        retry_after=privacy_services.NO_ANSWER_RETRY_AFTER_S
    )
    assert pending_photos(settings) == []  # deleted when the request gave up

    worker = workers.start("privacy")
    settings.GEOGAME_PRIVACY_SCORE_TIMEOUT_S = 120  # the worker loads torch and the model first
    response = Client().post("/api/privacy/", {**form, "image": photo(stuttgart)})
    assert response.status_code == 200, response.content
    image = response.json()["image"]
    assert image["available"] and image["city"] == "Stuttgart, Germany"
    here = registry.load_player("hierarchical", trainable_map).predict_images(
        [privacy_services.decode_photo(stuttgart)]
    )
    # The worker scored the pixels the web side stored (PNG): the same verdict as here.
    assert image["score"] == pytest.approx(here.details["privacy_score"], abs=1e-4)
    assert image["city_confidence"] == pytest.approx(here.details["city_confidence"], abs=1e-4)
    assert pending_photos(settings) == []
    # The first request's task, delivered late, finds its photos gone and says so (no error).
    wait_until(lambda: len(SUCCEEDED.findall(worker.log())) == 2, timeout_s=60, what="both tasks done")
    assert "Traceback" not in worker.log()
