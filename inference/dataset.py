"""Locations of a map as model inputs: per-view backbone features, cached."""

import logging
from dataclasses import dataclass

import numpy as np
from django.core.files.storage import default_storage

from geogame.maps.importer import view_file_name
from geogame.maps.models import Location
from geogame.maps.rules import MAX_VIEWS, city_label

from . import runtime
from .preprocessing import MODEL_INPUT_SUFFIX, model_input_image

log = logging.getLogger(__name__)



def model_input_name(view_sha256):
    """Where the backbone's input for the view whose image has this sha256 is stored: written at
    import next to the view (InferenceConfig.ready registers it with geogame.maps.hooks)."""
    return view_file_name(view_sha256, MODEL_INPUT_SUFFIX)


@dataclass
class LocationSet:
    location_ids: list
    features: np.ndarray  # (N, MAX_VIEWS, D), zero where a view is missing
    mask: np.ndarray  # (N, MAX_VIEWS) bool
    latlons: np.ndarray  # (N, 2)
    cities: list  # "City, Country" per location ("" when unknown)

    def __len__(self):
        return len(self.location_ids)

    def subset(self, rows):
        rows = list(rows)
        return LocationSet(
            [self.location_ids[i] for i in rows],
            self.features[rows],
            self.mask[rows],
            self.latlons[rows],
            [self.cities[i] for i in rows],
        )


def _loader(view):
    """The view's model input stored at import (inference.preprocessing), else the view itself
    (views imported before model inputs were stored): the same pixels reach the backbone."""

    def load():
        try:
            with default_storage.open(model_input_name(view.sha256), "rb") as f:
                return model_input_image(f.read())
        except FileNotFoundError:
            pass
        except ValueError as exc:
            log.warning("model input of view %s unusable (%s); decoding the view instead", view.id, exc)
        with view.image.open("rb") as f:
            return f.read()

    return load


def location_set(locations):
    """Features for every view of `locations` (a list of Location, views prefetched or not).

    The backbone runs only on views whose image hash is not in the feature cache yet.
    """
    locations = list(locations)
    views = [list(loc.views.all())[:MAX_VIEWS] for loc in locations]
    flat = [v for vs in views for v in vs]
    # The backbone is loaded once per process even when every view is cached: deciding by
    # a look at the cache first would race with a cache pruned in between.
    vectors = runtime.feature_cache().features_for(
        [(v.sha256, _loader(v)) for v in flat], runtime.backbone(), device=runtime.device()
    )
    dim = vectors.shape[1] if len(flat) else 0
    features = np.zeros((len(locations), MAX_VIEWS, dim), dtype=np.float32)
    mask = np.zeros((len(locations), MAX_VIEWS), dtype=bool)
    row = 0
    for i, vs in enumerate(views):
        for j in range(len(vs)):
            features[i, j] = vectors[row]
            mask[i, j] = True
            row += 1
    return LocationSet(
        location_ids=[loc.id for loc in locations],
        features=features,
        mask=mask,
        latlons=np.array([(loc.lat, loc.lon) for loc in locations], dtype=np.float64).reshape(-1, 2),
        cities=[city_label(loc.city, loc.country) if loc.city else "" for loc in locations],
    )


def split_locations(m, split):
    return list(
        Location.objects.filter(map=m, split=split, views__isnull=False)
        .distinct()
        .order_by("id")
        .prefetch_related("views")
    )
