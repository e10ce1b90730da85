"""Machine players. Each turns locations (their views) into guesses.

All learned players share the frozen backbone's cached features and see every
view of a location; class-based players place their pin where the expected
points are highest under their predicted distribution (inference.placement),
and also report the naive pin (the top class's centroid) so the gain can be
measured.
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings

from geogame.game.selectors import city_centres
from geogame.maps.models import Location

from . import placement
from .clip_zeroshot import is_hf_folder, is_hf_hub_id, looks_like_path
from .geocells import haversine_km_np, latlon_to_xyz, xyz_to_latlon


class PlayerUnavailable(Exception):
    """The player cannot play this map; the message says why and what to do."""


@dataclass
class Prediction:
    lat: float
    lon: float
    city: str  # "City, Country" the player names; "" on maps without cities
    top_lat: float | None = None  # the top class's centroid, for class-based players
    top_lon: float | None = None
    details: dict = field(default_factory=dict)


def stable_seed(*parts):
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


class MachinePlayer:
    name = ""
    title = ""  # the name players see
    blurb = ""  # one line for players: how it plays, in their words
    description = ""  # the technical line, for the "How the machines play" page and staff

    def __init__(self, m):
        self.map = m
        self.centres = city_centres(m)
        self.centre_labels = list(self.centres)
        self.centre_points = np.array(list(self.centres.values()), dtype=np.float64).reshape(-1, 2)

    @classmethod
    def unavailable_reason(cls, m):
        return None

    @classmethod
    def version_key(cls, m):
        return None

    @classmethod
    def reason_and_version_key(cls, m):
        """(unavailable_reason, version_key) together: what load_player asks for every round."""
        return cls.unavailable_reason(m), cls.version_key(m)

    @classmethod
    def excluded_location_ids(cls, m):
        """Ids of the locations of map `m` this player may have learned from, which a game against
        it never draws: the map's train and val splits (what any player's statistics come from)."""
        held = Location.objects.filter(map=m, split__in=(Location.TRAIN, Location.VAL))
        return frozenset(held.values_list("id", flat=True))

    def nearest_city(self, lat, lon):
        if not self.centre_labels:
            return ""
        km = haversine_km_np(np.array([lat, lon]), self.centre_points)
        return self.centre_labels[int(np.argmin(km))]

    def predict(self, locations):
        raise NotImplementedError


def train_latlons(m):
    return np.array(
        Location.objects.filter(map=m, split=Location.TRAIN).values_list("lat", "lon"), dtype=np.float64
    ).reshape(-1, 2)


class RandomPlayer(MachinePlayer):
    name = "random"
    title = "Dart"
    blurb = "Throws a dart somewhere on the map: a baseline to beat."
    description = "uniform over the area of the map's bounding box"

    def __init__(self, m):
        super().__init__(m)
        pts = np.array(Location.objects.filter(map=m).values_list("lat", "lon"), dtype=np.float64)
        self.lat0, self.lon0 = pts[:, 0].min(), pts[:, 1].min()
        self.lat1, self.lon1 = pts[:, 0].max(), pts[:, 1].max()

    @classmethod
    def unavailable_reason(cls, m):
        return None if Location.objects.filter(map=m).exists() else f"map {m.slug} has no locations"

    def predict(self, locations):
        out = []
        for loc in locations:
            rng = np.random.default_rng(stable_seed("random", loc.id))
            # Uniform in area: sin(latitude) is uniform on a sphere's band.
            s = rng.uniform(np.sin(np.radians(self.lat0)), np.sin(np.radians(self.lat1)))
            lat, lon = float(np.degrees(np.arcsin(s))), float(rng.uniform(self.lon0, self.lon1))
            out.append(Prediction(lat, lon, self.nearest_city(lat, lon)))
        return out


class CentroidPlayer(MachinePlayer):
    name = "centroid"
    title = "Middle"
    blurb = "Always guesses the same central spot of the map."
    description = "always the one point that maximises mean points over the training split"

    def __init__(self, m):
        super().__init__(m)
        train = train_latlons(m)
        mean = xyz_to_latlon(latlon_to_xyz(train).mean(0, keepdims=True))
        candidates = np.concatenate([mean, train])
        scores = placement.expected_points(candidates, np.ones(1), [train], m.scale_km)
        self.lat, self.lon = (float(x) for x in candidates[int(np.argmax(scores))])

    @classmethod
    def unavailable_reason(cls, m):
        if not Location.objects.filter(map=m, split=Location.TRAIN).exists():
            return f"map {m.slug} has no training locations"
        return None

    def predict(self, locations):
        return [Prediction(self.lat, self.lon, self.nearest_city(self.lat, self.lon)) for _ in locations]


class RetrievalPlayer(MachinePlayer):
    name = "retrieval"
    title = "Atlas"
    blurb = "Recalls the places it has seen that look most alike."
    description = (
        "the training places whose backbone features look most like the three views (cosine), "
        "pin where the expected points over them, weighted by similarity, are highest (PIGEON's refinement)"
    )

    @classmethod
    def unavailable_reason(cls, m):
        return CentroidPlayer.unavailable_reason(m)

    @classmethod
    def version_key(cls, m):
        """The training split: a resplit loads the player afresh (its features stay cached)."""
        ids = Location.objects.filter(map=m, split=Location.TRAIN).order_by("id").values_list("id", flat=True)
        return stable_seed("retrieval", *ids)

    def __init__(self, m):
        from .dataset import location_set, split_locations
        from .retrieval import location_vectors

        super().__init__(m)
        train = location_set(split_locations(m, Location.TRAIN))  # features from the cache
        if not len(train):
            raise PlayerUnavailable(f"map {m.slug} has no training locations with views")
        self.train_vectors = location_vectors(train.features, train.mask)
        self.train_latlons = train.latlons
        self.train_cities = train.cities

    def predict(self, locations):
        from .dataset import location_set
        from .retrieval import location_vectors, nearest, refined_pin, similarity_weights

        data = location_set(locations)
        order, sims = nearest(
            location_vectors(data.features, data.mask), self.train_vectors, settings.GEOGAME_RETRIEVAL_K
        )
        out = []
        for rows, row_sims in zip(order, sims, strict=True):
            weights = similarity_weights(row_sims, settings.GEOGAME_RETRIEVAL_TEMPERATURE)
            guess = refined_pin(self.train_latlons[rows], weights, self.map.scale_km)
            votes = {}
            for i, w in zip(rows, weights, strict=True):
                votes[self.train_cities[i]] = votes.get(self.train_cities[i], 0.0) + w
            city = max(votes, key=votes.get) if "" not in votes else self.nearest_city(guess.lat, guess.lon)
            top = self.train_latlons[rows[0]]
            details = {"similarity": float(row_sims[0]), "expected_points": guess.expected_points}
            out.append(Prediction(guess.lat, guess.lon, city, float(top[0]), float(top[1]), details))
        return out


def _recorded_location_ids(directory):
    """The artefact's recorded train and val ids, read once per meta.json version; None without a
    record (or without a readable meta.json: its loading reports that)."""
    from .artefacts import META_NAME, ArtefactError, read_meta, trained_location_ids

    try:
        mtime = (Path(directory) / META_NAME).stat().st_mtime_ns
    except OSError:
        return None
    key = (str(directory), mtime)
    if key not in _RECORDED:
        try:
            _RECORDED[key] = trained_location_ids(read_meta(directory))
        except ArtefactError:
            return None
        if len(_RECORDED) > 256:
            _RECORDED.pop(next(iter(_RECORDED)))
    return _RECORDED[key]


_RECORDED = {}


class TrainedPlayer(MachinePlayer):
    """A player whose head was trained by `train_player`; loads the newest ready version."""

    @classmethod
    def latest(cls, m):
        from .models import TrainedModel

        return (
            TrainedModel.objects.filter(map=m, player_name=cls.name, status=TrainedModel.READY)
            .order_by("-version")
            .first()
        )

    @classmethod
    def unavailable_reason(cls, m):
        if cls.latest(m) is None:
            return (
                f"no trained {cls.name} model for map {m.slug}: "
                f"run manage.py train_player {m.slug} --player {cls.name}"
            )
        return None

    @classmethod
    def version_key(cls, m):
        tm = cls.latest(m)
        return tm.version if tm else None

    @classmethod
    def reason_and_version_key(cls, m):
        # One query, not one for each (a subclass adding to unavailable_reason overrides this too).
        tm = cls.latest(m)
        return (None, tm.version) if tm else (cls.unavailable_reason(m), None)

    @classmethod
    def excluded_location_ids(cls, m):
        """The train and val locations recorded in the newest artefact (they stay excluded after a
        resplit), with the map's current train and val splits; an artefact saved before the record
        existed falls back to the current splits alone."""
        current = super().excluded_location_ids(m)
        tm = cls.latest(m)
        if tm is None or not tm.directory:
            return current
        recorded = _recorded_location_ids(tm.directory)
        return current if recorded is None else current | recorded

    def __init__(self, m):
        from .artefacts import load_artefact
        from .heads import build_head

        super().__init__(m)
        self.trained = self.latest(m)
        state_dict, self.meta = load_artefact(self.trained.directory)
        self.head = build_head(self.meta["config"])
        try:
            self.head.load_state_dict(state_dict)
        except RuntimeError as exc:
            from .artefacts import ArtefactError

            raise ArtefactError(
                f"artefact weights do not fit its config in {self.trained.directory}: {exc}"
            ) from None
        self.head.eval()
        labels = self.meta["labels"]
        self.classes = labels.get("classes", [])
        self.centroids = np.array(labels.get("centroids", []), dtype=np.float64).reshape(-1, 2)
        self.class_points = [
            np.array(p, dtype=np.float64).reshape(-1, 2) for p in labels.get("class_points", [])
        ]
        self.candidates = (
            placement.candidate_points(self.centroids, self.class_points) if self.class_points else None
        )

    def features(self, locations):
        from .dataset import location_set

        return location_set(locations)

    def place(self, probs, classes_are_cities):
        guess = placement.expected_points_guess(probs, self.candidates, self.class_points, self.map.scale_km)
        top = placement.top_class_centroid(probs, self.centroids)
        city = (
            self.classes[int(np.argmax(probs))]
            if classes_are_cities
            else self.nearest_city(guess.lat, guess.lon)
        )
        return Prediction(
            guess.lat,
            guess.lon,
            city,
            float(top[0]),
            float(top[1]),
            {"confidence": float(np.max(probs)), "expected_points": guess.expected_points},
        )


class EnsemblePlayer(TrainedPlayer):
    name = "ensemble"
    title = "Scout"
    blurb = "Looks at all three views and picks the likeliest city."
    description = "EfficientNet-Lite0 features, class head; logits averaged over the three views (seed 003)"

    def view_mask(self, data):
        return data.mask

    def predict(self, locations):
        from .heads import predict_proba_views

        data = self.features(locations)
        probs = predict_proba_views(self.head, data.features, self.view_mask(data))
        cities = self.meta["labels"]["kind"] == "cities"
        return [self.place(p, cities) for p in probs]


class TransferPlayer(EnsemblePlayer):
    name = "transfer"
    title = "Glance"
    blurb = "Takes a single look at one view, then guesses."
    description = "the same class head on one random view only (seed 003's single-view baseline)"

    def view_mask(self, data):
        mask = np.zeros_like(data.mask)
        for i, loc_id in enumerate(data.location_ids):
            present = np.flatnonzero(data.mask[i])
            mask[i, present[stable_seed("transfer", loc_id) % len(present)]] = True
        return mask


class HierarchicalPlayer(TrainedPlayer):
    name = "hierarchical"
    title = "Navigator"
    blurb = "Finds the city first, then narrows down the district."
    description = "city head, then a district head fed with the city output (seed 000); reports privacy"

    def __init__(self, m):
        super().__init__(m)
        d = self.meta["labels"]["districts"]
        self.district_centroids = np.array(d["centroids"], dtype=np.float64).reshape(-1, 2)
        self.district_points = [np.array(p, dtype=np.float64).reshape(-1, 2) for p in d["class_points"]]
        self.district_candidates = placement.candidate_points(self.district_centroids, self.district_points)

    def predict(self, locations):
        from .heads import predict_proba_views

        data = self.features(locations)
        city_probs, district_probs = predict_proba_views(self.head, data.features, data.mask)
        return [self._prediction(pc, pd) for pc, pd in zip(city_probs, district_probs, strict=True)]

    def predict_images(self, images, top_k=3):
        """One Prediction for a place seen in `images` (1 to MAX_VIEWS upright PIL images, e.g.
        an upload), with the `top_k` cities and each view's own verdict in its details.

        Nothing is cached: an upload's features are not kept any more than the upload is.
        """
        from . import runtime
        from .backbone import embed_images
        from .dataset import MAX_VIEWS
        from .heads import predict_proba_views

        if not 1 <= len(images) <= MAX_VIEWS:
            raise ValueError(f"give 1 to {MAX_VIEWS} views of one place, not {len(images)}")
        features = embed_images(runtime.backbone(), list(images), device=runtime.device())
        city_probs, district_probs = predict_proba_views(self.head, features[None])
        prediction = self._prediction(city_probs[0], district_probs[0])
        order = np.argsort(-city_probs[0])[:top_k]
        prediction.details["top_cities"] = [
            {"city": self.classes[k], "confidence": float(city_probs[0][k])} for k in order
        ]
        view_cities, view_districts = predict_proba_views(self.head, features)
        prediction.details["views"] = [
            {
                "city": self.classes[int(np.argmax(pc))],
                "city_confidence": float(pc.max()),
                "district_confidence": float(pd.max()),
            }
            for pc, pd in zip(view_cities, view_districts, strict=True)
        ]
        return prediction

    def _prediction(self, pc, pd):
        from .heads import privacy_score

        guess = placement.expected_points_guess(
            pd, self.district_candidates, self.district_points, self.map.scale_km
        )
        top = placement.top_class_centroid(pd, self.district_centroids)
        city_conf, district_conf = float(pc.max()), float(pd.max())
        return Prediction(
            guess.lat,
            guess.lon,
            self.classes[int(np.argmax(pc))],
            float(top[0]),
            float(top[1]),
            {
                "city_confidence": city_conf,
                "district_confidence": district_conf,
                "privacy_score": float(privacy_score(city_conf, district_conf)),
            },
        )


class RegressionPlayer(TrainedPlayer):
    name = "regression"
    title = "Compass"
    blurb = "Points straight at a spot from what it sees."
    description = "regresses a unit-sphere vector from the views' features (seed 001)"

    def predict(self, locations):
        from .heads import predict_latlon_views

        data = self.features(locations)
        latlons = predict_latlon_views(self.head, data.features, data.mask)
        return [Prediction(float(a), float(b), self.nearest_city(a, b)) for a, b in latlons]


class ClipPlayer(MachinePlayer):
    name = "clip"
    title = "Polyglot"
    blurb = "Matches the scene to descriptions of each city."
    description = "open_clip zero-shot over the map's cities, prompt ensemble, averaged over views (seed 002)"

    @classmethod
    def unavailable_reason(cls, m):
        weights = settings.GEOGAME_CLIP_PRETRAINED
        if not weights:
            return "no CLIP weights configured: set GEOGAME_CLIP_PRETRAINED to a checkpoint file or hub id"
        if (
            not weights.startswith("hf-hub:")
            and not is_hf_hub_id(weights)
            and looks_like_path(weights)
            and not Path(weights).is_file()
            and not is_hf_folder(weights)
        ):
            return f"CLIP checkpoint file not found: {weights} (nor a transformers folder with config.json)"
        if len(city_centres(m)) < 2:
            return f"map {m.slug} has fewer than two cities to choose from"
        return None

    @classmethod
    def version_key(cls, m):
        return (settings.GEOGAME_CLIP_MODEL, settings.GEOGAME_CLIP_PRETRAINED)

    def __init__(self, m):
        from . import runtime
        from .clip_zeroshot import ClipUnavailable, encode_labels, load_clip

        super().__init__(m)
        try:
            self.clip = load_clip(
                settings.GEOGAME_CLIP_MODEL, settings.GEOGAME_CLIP_PRETRAINED, runtime.device()
            )
        except ClipUnavailable as exc:
            raise PlayerUnavailable(str(exc)) from None
        self.labels = [
            tuple(label.split(", ", 1)) if ", " in label else (label, "") for label in self.centre_labels
        ]
        self.text = encode_labels(self.clip.model, self.clip.tokenizer, self.labels, device=runtime.device())
        self.class_points = [
            np.array(
                Location.objects.filter(map=m, city=c, country=k).values_list("lat", "lon"), dtype=np.float64
            )
            for c, k in self.labels
        ]
        self.candidates = placement.candidate_points(self.centre_points, self.class_points)

    def predict(self, locations):
        import io

        from PIL import Image

        from . import runtime
        from .clip_zeroshot import zero_shot_probs

        images = []
        for loc in locations:
            views = []
            for v in list(loc.views.all())[:3]:
                with v.image.open("rb") as f:
                    views.append(Image.open(io.BytesIO(f.read())).convert("RGB"))
            images.append(views)
        probs = zero_shot_probs(
            self.clip.model,
            self.clip.tokenizer,
            self.clip.preprocess,
            images,
            self.labels,
            text_features=self.text,
            device=runtime.device(),
        )
        out = []
        for p in probs:
            guess = placement.expected_points_guess(p, self.candidates, self.class_points, self.map.scale_km)
            k = int(np.argmax(p))
            out.append(
                Prediction(
                    guess.lat,
                    guess.lon,
                    self.centre_labels[k],
                    float(self.centre_points[k, 0]),
                    float(self.centre_points[k, 1]),
                    {"confidence": float(p[k])},
                )
            )
        return out
