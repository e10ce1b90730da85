"""Training a learned player on a map's train split, early-stopped on val."""

from django.db import transaction
from django.db.models import Max
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


def train(tm, *, seed=0, progress=None):
    """Train `tm` (a TrainedModel in `training` state), save its artefact, mark it ready.

    1. Features for the train and val splits (cached), targets and label map.
    2. Train the head with early stopping on the val loss.
    3. Save weights + label map + config + metrics + the ids of the train and val locations;
       evaluate on val; mark ready.
    """
    from .evaluation import evaluate_players
    from .heads import build_head, train_head

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
            TrainedModel.objects.filter(id=tm.id).update(progress=min(0.99, row["epoch"] / max_epochs))
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
        artefacts.save_artefact(directory, state_dict=head.state_dict(), meta=meta)
        TrainedModel.objects.filter(id=tm.id).update(
            directory=str(directory),
            status=TrainedModel.READY,
            progress=1.0,
            metrics=metrics,
            finished_at=timezone.now(),
        )
        tm.refresh_from_db()
        val_table = evaluate_players(m, [tm.player_name], split=Location.VAL)
        metrics["val"].update({k: v for k, v in val_table[0].items() if k not in ("player", "available")})
        TrainedModel.objects.filter(id=tm.id).update(metrics=metrics)
        artefacts.save_artefact(directory, state_dict=head.state_dict(), meta=dict(meta, metrics=metrics))
        tm.refresh_from_db()
        return tm
    except Exception as exc:
        TrainedModel.objects.filter(id=tm.id).update(
            status=TrainedModel.FAILED, error=str(exc), finished_at=timezone.now()
        )
        raise


def _backbone_name():
    from .backbone import BACKBONE_NAME

    return BACKBONE_NAME
