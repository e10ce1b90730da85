"""Training a learned player on a map's train split, early-stopped on val."""

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from geogame.maps.models import Location

from . import artefacts
from .dataset import location_set, split_locations
from .models import TrainedModel
from .registry import LEARNED

MIN_TRAIN_LOCATIONS = 8
MIN_VAL_LOCATIONS = 2
ERR_NOT_LEARNED = "player {name!r} is not trained; trainable players: " + ", ".join(LEARNED)
ERR_TOO_FEW = (
    "map {slug} has {train} train and {val} val locations; training needs at least "
    f"{MIN_TRAIN_LOCATIONS} train and {MIN_VAL_LOCATIONS} val locations"
)
ERR_NO_CITIES = "map {slug}: the {name} player needs at least two cities among its train locations"
ERR_CLAIMED = "{tm} is already being trained by {by} (last heartbeat {when}); not starting a second run"
ERR_NOT_TRAINING = "{tm} is {status}, not waiting to be trained"
ERR_CLAIM_LOST = "{tm}: another run took it over (this one was silent too long); this run stops"
ERR_STALE = (
    "the worker training it stopped: no heartbeat for over {stale_s:g} s "
    "(GEOGAME_TRAINING_STALE_S); start a new run"
)

log = logging.getLogger(__name__)

DEFAULT_CONFIG = {
    "hidden": 0,
    "dropout": 0.2,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "max_epochs": 300,
    "patience": 20,
}
# A linear map from features to a unit vector underfits (val median 4780 km on the demo
# pack against 543 km with one hidden layer of 256).
PLAYER_CONFIG = {"regression": {"hidden": 256}}


class TrainingError(ValueError):
    pass


class TrainingClaimed(TrainingError):
    """The run was not started: another live run holds the row, or it is no longer in training."""


class TrainingClaimLost(Exception):
    """This run's claim was taken over; it stops and leaves the row to the run that holds it."""


def _city_classes(train, val, slug, name):
    """City classes from the train split. A val location whose city has no train location (a world
    map of one photo per city has mostly such) is kept, with the nearest train city as its target:
    the best answer the player could give. Dropping them left an empty val set, whose float
    targets crashed the loss."""
    import numpy as np

    from .geocells import assign_cells, latlon_to_xyz, xyz_to_latlon

    classes = sorted({c for c in train.cities if c})
    if len(classes) < 2:
        raise TrainingError(ERR_NO_CITIES.format(slug=slug, name=name))
    index = {c: i for i, c in enumerate(classes)}
    train = train.subset([i for i, c in enumerate(train.cities) if c in index])
    y_train = np.array([index[c] for c in train.cities], dtype=np.int64)
    points = [train.latlons[y_train == k] for k in range(len(classes))]
    centroids = np.concatenate([xyz_to_latlon(latlon_to_xyz(p).mean(0, keepdims=True)) for p in points])
    nearest = assign_cells(val.latlons, centroids) if len(val) else np.zeros(0, dtype=np.int64)
    y_val = np.array([index.get(c, nearest[i]) for i, c in enumerate(val.cities)], dtype=np.int64)
    return train, val, y_train, y_val, classes, centroids, points


def prepare(m, name, seed):
    """Features, targets and label map for one player. Returns (config, labels, train, val)."""
    import numpy as np

    from .geocells import assign_cells, district_offsets, latlon_to_xyz, make_districts, make_geocells

    train = location_set(split_locations(m, Location.TRAIN))
    val = location_set(split_locations(m, Location.VAL))
    if len(train) < MIN_TRAIN_LOCATIONS or len(val) < MIN_VAL_LOCATIONS:
        raise TrainingError(ERR_TOO_FEW.format(slug=m.slug, train=len(train), val=len(val)))
    config = dict(
        DEFAULT_CONFIG, **PLAYER_CONFIG.get(name, {}), in_dim=int(train.features.shape[-1]), seed=seed
    )

    if name == "regression":
        config["head"] = "regression"
        return (
            config,
            {"kind": "regression"},
            (train, latlon_to_xyz(train.latlons)),
            (val, latlon_to_xyz(val.latlons)),
        )

    if name == "hierarchical":
        train, val, y_train, y_val, classes, centroids, points = _city_classes(train, val, m.slug, name)
        districts = make_districts(
            {c: points[k] for k, c in enumerate(classes)},
            per_city_k=max(1, min(10, min(len(p) for p in points) // 2)),
            seed=seed,
        )
        offsets = district_offsets(districts, classes)
        d_train = np.zeros(len(y_train), dtype=np.int64)
        for k, c in enumerate(classes):
            d_train[np.flatnonzero(y_train == k)] = offsets[k] + districts[c].labels
        d_val = np.array(
            [
                offsets[k] + assign_cells(val.latlons[i : i + 1], districts[classes[k]].centroids)[0]
                for i, k in enumerate(y_val)
            ],
            dtype=np.int64,
        )
        d_centroids = np.concatenate([districts[c].centroids for c in classes])
        d_points = [train.latlons[d_train == j] for j in range(len(d_centroids))]
        config.update(head="hierarchical", n_cities=len(classes), n_districts=len(d_centroids))
        labels = {
            "kind": "hierarchical",
            "classes": classes,
            "centroids": centroids.tolist(),
            "class_points": [p.tolist() for p in points],
            "districts": {"centroids": d_centroids.tolist(), "class_points": [p.tolist() for p in d_points]},
        }
        return config, labels, (train, np.stack([y_train, d_train], 1)), (val, np.stack([y_val, d_val], 1))

    # ensemble / transfer: cities on city maps, geocells on coordinate maps
    if m.kind == m.CITY:
        train, val, y_train, y_val, classes, centroids, points = _city_classes(train, val, m.slug, name)
        kind = "cities"
    else:
        cells = make_geocells(train.latlons, seed=seed)
        y_train, centroids = cells.labels, cells.centroids
        y_val = assign_cells(val.latlons, centroids)
        classes = [f"cell {k}" for k in range(len(centroids))]
        points = [train.latlons[y_train == k] for k in range(len(centroids))]
        kind = "geocells"
    config.update(head="flat", n_classes=len(classes))
    labels = {
        "kind": kind,
        "classes": classes,
        "centroids": centroids.tolist(),
        "class_points": [p.tolist() for p in points],
    }
    return config, labels, (train, y_train), (val, y_val)


def trained_model_create(*, m, name):
    """Register a new version in `training` state (the row the web page polls)."""
    if name not in LEARNED:
        raise TrainingError(ERR_NOT_LEARNED.format(name=name))
    with transaction.atomic():
        latest = (
            TrainedModel.objects.select_for_update()
            .filter(map=m, player_name=name)
            .aggregate(v=Max("version"))
        )
        return TrainedModel.objects.create(map=m, player_name=name, version=(latest["v"] or 0) + 1)


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.GEOGAME_TRAINING_STALE_S)


def trained_model_claim(tm, *, run_id):
    """Claim `tm` for the run `run_id`, with a conditional UPDATE: only a row in training that no
    run holds, or whose run has been silent for GEOGAME_TRAINING_STALE_S (its worker died), is
    claimed. So a redelivered copy of the task (acks_late; Redis hands out again a task held
    longer than its visibility timeout) does not start a second run into the same artefact
    folder. Returns whether this run got it."""
    now = timezone.now()
    updated = (
        TrainedModel.objects.filter(id=tm.id, status=TrainedModel.TRAINING)
        .filter(Q(claimed_at__isnull=True) | Q(heartbeat_at__lt=_stale_before()))
        .update(claimed_by=run_id, claimed_at=now, heartbeat_at=now, progress=0.0, error="")
    )
    return updated == 1


def trained_models_fail_stale(*, m=None):
    """Mark failed the runs in training whose worker stopped beating (see trained_model_claim), so a
    dead run does not show as training for ever. A row not claimed yet (queued) is left alone.
    Returns how many were marked."""
    rows = TrainedModel.objects.filter(
        status=TrainedModel.TRAINING, claimed_at__isnull=False, heartbeat_at__lt=_stale_before()
    )
    if m is not None:
        rows = rows.filter(map=m)
    marked = rows.update(
        status=TrainedModel.FAILED,
        error=ERR_STALE.format(stale_s=settings.GEOGAME_TRAINING_STALE_S),
        finished_at=timezone.now(),
    )
    if marked:
        log.warning("marked %d training run(s) failed: no heartbeat from their worker", marked)
    return marked


def new_run_id():
    """Names the process that trains (host:pid) and is unique per run, so that two copies of one
    task never pass for the same run."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Heartbeat:
    """Writes the row's heartbeat_at every tenth of GEOGAME_TRAINING_STALE_S from a thread of its
    own: the main thread may be busy for long in one step (the backbone over a new map's views).
    `lost` is set once the row is seen held by another run or no longer in training."""

    def __init__(self, tm_id, run_id):
        self.mine = TrainedModel.objects.filter(id=tm_id, claimed_by=run_id, status=TrainedModel.TRAINING)
        self.tm_id = tm_id
        self.every_s = settings.GEOGAME_TRAINING_STALE_S / 10
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="geogame-training-heartbeat", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        # Not joined: a beat waiting on a database lock must not hold up the run's end. A beat
        # after the end changes nothing (the row is no longer in training).
        self._stop.set()

    def _run(self):
        from django.db import connection

        try:
            while not self._stop.wait(self.every_s):
                try:
                    self._beat()
                except DatabaseError as exc:  # the next beat tries again
                    log.warning("training run %s: heartbeat not written (%s)", self.tm_id, exc)
                if self.lost.is_set():
                    return
        finally:
            connection.close()

    def _beat(self):
        # Read first: a row this connection cannot see (created in a transaction not committed
        # yet, as in tests) is not written to, nor taken as lost.
        if not TrainedModel.objects.filter(id=self.tm_id).exists():
            return
        if self.mine.update(heartbeat_at=timezone.now()) != 1:
            self.lost.set()


def train(tm, *, seed=0, progress=None, run_id=None):
    """Claim `tm` (a TrainedModel in `training` state), train it, save its artefact, mark it ready.

    0. Claim it for this run (TrainingClaimed when another live run holds it, or it is done);
       a heartbeat thread keeps the claim while the run goes on.
    1. Features for the train and val splits (cached), targets and label map.
    2. Train the head with early stopping on the val loss.
    3. Save weights + label map + config + metrics + the ids of the train and val locations;
       evaluate on val; mark ready. Every write is conditional on the claim: a run that lost it
       (TrainingClaimLost) stops before it writes the artefact.
    """
    run_id = run_id or new_run_id()
    if not trained_model_claim(tm, run_id=run_id):
        tm.refresh_from_db()
        if tm.status != TrainedModel.TRAINING:
            raise TrainingClaimed(ERR_NOT_TRAINING.format(tm=tm, status=tm.status))
        raise TrainingClaimed(ERR_CLAIMED.format(tm=tm, by=tm.claimed_by, when=tm.heartbeat_at))
    log.info("%s: training, run %s", tm, run_id)
    with _Heartbeat(tm.id, run_id) as heartbeat:
        return _train_claimed(tm, seed=seed, progress=progress, run_id=run_id, heartbeat=heartbeat)


def _train_claimed(tm, *, seed, progress, run_id, heartbeat):
    from .evaluation import evaluate_players
    from .heads import build_head, train_head

    ours = TrainedModel.objects.filter(id=tm.id, claimed_by=run_id)
    training = ours.filter(status=TrainedModel.TRAINING)

    def still_ours(updated=1):
        if updated != 1:
            raise TrainingClaimLost(ERR_CLAIM_LOST.format(tm=tm))

    m = tm.map
    try:
        # Every location of the two splits, read before training: games against this artefact never
        # draw them (inference.players.MachinePlayer.excluded_location_ids), even after a resplit.
        trained_on = {
            split: sorted(Location.objects.filter(map=m, split=split).values_list("id", flat=True))
            for split in (Location.TRAIN, Location.VAL)
        }
        config, labels, (train_set, y_train), (val_set, y_val) = prepare(m, tm.player_name, seed)
        head = build_head(config)
        max_epochs = config["max_epochs"]

        def on_epoch(row):
            beat = timezone.now()
            still_ours(training.update(progress=min(0.99, row["epoch"] / max_epochs), heartbeat_at=beat))
            if progress:
                progress(row)

        result = train_head(
            head,
            (train_set.features, y_train, train_set.mask),
            (val_set.features, y_val, val_set.mask),
            max_epochs=max_epochs,
            patience=config["patience"],
            lr=config["lr"],
            weight_decay=config["weight_decay"],
            seed=seed,
            progress=on_epoch,
        )
        best = result.history[result.best_epoch - 1]
        metrics = {
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "stopped_early": result.stopped_early,
            "train_locations": len(train_set),
            "val_locations": len(val_set),
            "val": {k: v for k, v in best.items() if k != "epoch"},
        }
        directory = artefacts.artefact_dir(m.slug, tm.player_name, tm.version)
        meta = {
            "player": tm.player_name,
            "map": m.slug,
            "version": tm.version,
            "backbone": _backbone_name(),
            "config": config,
            "labels": labels,
            "metrics": metrics,
            artefacts.TRAINED_ON_KEY: trained_on,
        }
        still_ours(0 if heartbeat.lost.is_set() else 1)
        artefacts.save_artefact(directory, state_dict=head.state_dict(), meta=meta)
        updated = training.update(
            directory=str(directory),
            status=TrainedModel.READY,
            progress=1.0,
            metrics=metrics,
            finished_at=timezone.now(),
        )
        still_ours(updated)
        tm.refresh_from_db()
        val_table = evaluate_players(m, [tm.player_name], split=Location.VAL)
        metrics["val"].update({k: v for k, v in val_table[0].items() if k not in ("player", "available")})
        still_ours(ours.update(metrics=metrics))
        artefacts.save_artefact(directory, state_dict=head.state_dict(), meta=dict(meta, metrics=metrics))
        tm.refresh_from_db()
        return tm
    except TrainingClaimLost:
        log.warning("%s", ERR_CLAIM_LOST.format(tm=tm))
        raise
    except Exception as exc:
        ours.update(status=TrainedModel.FAILED, error=str(exc), finished_at=timezone.now())
        raise


def _backbone_name():
    from .backbone import BACKBONE_NAME

    return BACKBONE_NAME
