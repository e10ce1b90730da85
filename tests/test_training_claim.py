"""One training run per request: the train_player task claims its TrainedModel row with a
conditional UPDATE, so a redelivered or second copy does not train into the same artefact folder.
The real-worker case is in tests/test_celery_worker.py."""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from inference import artefacts, registry
from inference.models import TrainedModel
from inference.tasks import train_player
from inference.training import (
    TrainingClaimLost,
    train,
    trained_model_claim,
    trained_model_create,
    trained_models_fail_stale,
)

pytestmark = pytest.mark.django_db

THREAD_TIMEOUT_S = 300
TRAINING_STARTED = ": training, run "


@pytest.fixture(autouse=True)
def _fresh_player_cache():
    registry._load.cache_clear()
    yield
    registry._load.cache_clear()


@pytest.fixture
def training_log(caplog):
    caplog.set_level(logging.INFO, logger="inference")
    return caplog


def versions_on_disk(tm):
    """The artefact folders of tm's player on tm's map."""
    folder = artefacts.artefact_dir(tm.map.slug, tm.player_name, 1).parent
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def runs_started(caplog):
    return [r for r in caplog.records if TRAINING_STARTED in r.getMessage()]


def silent_for(tm, seconds):
    """Move the run's last heartbeat `seconds` into the past (its worker stopped then)."""
    TrainedModel.objects.filter(id=tm.id).update(heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def test_a_copy_of_the_task_finds_the_row_claimed_by_a_live_run_and_does_not_train(
    trainable_map, training_log
):
    tm = trained_model_create(m=trainable_map, name="ensemble")
    assert trained_model_claim(tm, run_id="worker-a:11:live")  # a run in another worker holds it

    assert train_player(tm.id) == TrainedModel.TRAINING

    tm.refresh_from_db()
    assert (tm.status, tm.claimed_by, tm.directory) == (TrainedModel.TRAINING, "worker-a:11:live", "")
    assert versions_on_disk(tm) == [] and runs_started(training_log) == []
    assert f"train_player({tm.id}) not run" in training_log.text
    assert "already being trained by worker-a:11:live" in training_log.text


def test_a_redelivered_copy_of_a_finished_run_leaves_its_artefact_alone(trainable_map, training_log):
    tm = trained_model_create(m=trainable_map, name="ensemble")
    assert train_player(tm.id) == TrainedModel.READY
    weights = artefacts.artefact_dir(trainable_map.slug, "ensemble", 1) / artefacts.WEIGHTS_NAME
    written = weights.stat().st_mtime_ns

    assert train_player(tm.id) == TrainedModel.READY

    assert weights.stat().st_mtime_ns == written and len(runs_started(training_log)) == 1
    assert "is ready, not waiting to be trained" in training_log.text


def test_a_run_whose_worker_went_silent_is_taken_over_by_the_next_copy(trainable_map, settings):
    tm = trained_model_create(m=trainable_map, name="ensemble")
    assert trained_model_claim(tm, run_id="worker-a:11:dead")
    silent_for(tm, settings.GEOGAME_TRAINING_STALE_S - 5)
    assert not trained_model_claim(tm, run_id="too-early")  # still within the stale time
    silent_for(tm, settings.GEOGAME_TRAINING_STALE_S + 1)

    assert train_player(tm.id) == TrainedModel.READY

    tm.refresh_from_db()
    assert tm.claimed_by not in ("worker-a:11:dead", "too-early") and versions_on_disk(tm) == ["v1"]


def test_a_run_that_lost_its_claim_stops_without_writing_an_artefact(trainable_map):
    tm = trained_model_create(m=trainable_map, name="ensemble")

    def taken_over(row):  # after the first epoch, another run takes the row over
        TrainedModel.objects.filter(id=tm.id).update(claimed_by="worker-b:22:other")

    with pytest.raises(TrainingClaimLost, match="another run took it over"):
        train(tm, progress=taken_over)

    tm.refresh_from_db()
    assert (tm.status, tm.claimed_by, tm.error) == (TrainedModel.TRAINING, "worker-b:22:other", "")
    assert versions_on_disk(tm) == []


def test_the_staff_page_shows_a_run_whose_worker_died_as_failed(trainable_map, settings, django_user_model):
    dead, live, queued = (trained_model_create(m=trainable_map, name="ensemble") for _ in range(3))
    for tm in (dead, live):
        assert trained_model_claim(tm, run_id=f"worker:{tm.version}")
    silent_for(dead, settings.GEOGAME_TRAINING_STALE_S + 1)
    client = Client()
    client.force_login(django_user_model.objects.create_user("staff", password="pw", is_staff=True))

    models = client.get(f"/api/maps/{trainable_map.slug}/players/").json()["models"]

    by_version = {m["version"]: m for m in models}
    assert by_version[dead.version]["status"] == TrainedModel.FAILED
    assert "the worker training it stopped: no heartbeat" in by_version[dead.version]["error"]
    assert by_version[live.version]["status"] == by_version[queued.version]["status"] == TrainedModel.TRAINING
    assert trained_models_fail_stale(m=trainable_map) == 0  # marked once


@pytest.mark.django_db(transaction=True)
def test_two_copies_delivered_at_once_train_once_into_one_artefact_folder(trainable_map, training_log):
    tm = trained_model_create(m=trainable_map, name="ensemble")
    both_ready = threading.Barrier(2)
    results, errors = [], []

    def deliver():
        try:
            both_ready.wait(THREAD_TIMEOUT_S)
            results.append(train_player(tm.id))
        except Exception as exc:  # reported below, with the thread's error
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(THREAD_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads) and errors == []

    tm.refresh_from_db()
    assert tm.status == TrainedModel.READY
    # The other copy found the row claimed (training), or, had it come late, already ready.
    assert sorted(results) in (["ready", "training"], ["ready", "ready"])
    assert len(runs_started(training_log)) == 1  # one copy trained; the other said why not
    assert f"train_player({tm.id}) not run" in training_log.text
    assert versions_on_disk(tm) == ["v1"]
