"""Small trainable heads over cached backbone features, and their training loop.

Data come per location: features (N, V, D) for up to V views of each location, a mask (N, V)
saying which views exist, and one target per location. Training treats every view as its own
example (seed 003's transfer baseline, three times the examples); evaluation and prediction
average the head's raw outputs (logits) over a location's views before the softmax (seed
003's ensemble), so one overconfident view cannot outvote the others the way averaged
probabilities would let it.

Heads:
- FlatHead: one softmax over cities or geocells.
- HierarchicalHead (seed 000): a city softmax, and a district softmax whose input is the
  features concatenated with the city probabilities; trained on the sum of both losses.
- RegressionHead (seed 001): a point on the unit sphere, trained on 1 - cosine.
"""

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .artefacts import ArtefactError
from .geocells import haversine_km_np, xyz_to_latlon

# Seed 000 leaves the city-confidence cutoff c unspecified; below an even chance of being in
# the predicted city we treat the location as not given away at all.
DEFAULT_CITY_CUTOFF = 0.5


class ViewSet(NamedTuple):
    features: np.ndarray  # (N, V, D), or (N, D) for one view per location
    targets: np.ndarray  # (N,) class ids, (N, 2) [city, district] ids, or (N, 3) unit vectors
    mask: np.ndarray | None = None  # (N, V) bool, True where the view exists; None: all exist


def cross_entropy_loss(output, targets):
    return F.cross_entropy(output, targets)


def hierarchical_loss(output, targets):
    city_logits, district_logits = output
    return F.cross_entropy(city_logits, targets[:, 0]) + F.cross_entropy(district_logits, targets[:, 1])


def cosine_loss(output, targets):
    return (1 - F.cosine_similarity(output, targets, dim=-1)).mean()


def great_circle_loss(output, targets):
    """Mean angle in radians; atan2 keeps the gradient finite near zero, where acos's is not."""
    unit = F.normalize(output, dim=-1)
    cross = torch.linalg.vector_norm(torch.linalg.cross(unit, targets, dim=-1), dim=-1)
    return torch.atan2(cross, (unit * targets).sum(-1)).mean()


def _mlp(in_dim: int, out_dim: int, hidden: int, dropout: float) -> nn.Sequential:
    if hidden:
        return nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, out_dim),
        )
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))


class _Head(nn.Module):
    """Standardises its input with training-set statistics kept in buffers (so they are saved
    with the weights): backbone features sit on very different scales per dimension."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.in_dim = in_dim
        self.register_buffer("input_mean", torch.zeros(in_dim))
        self.register_buffer("input_std", torch.ones(in_dim))

    def set_input_stats(self, features: np.ndarray) -> None:
        features = torch.as_tensor(np.asarray(features, dtype=np.float32))
        std = features.std(0, unbiased=False)
        self.input_mean.copy_(features.mean(0))
        self.input_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def standardise(self, x):
        return (x - self.input_mean) / self.input_std


class FlatHead(_Head):
    def __init__(self, in_dim: int, n_classes: int, hidden: int = 0, dropout: float = 0.2):
        super().__init__(in_dim)
        self.n_classes = n_classes
        self.net = _mlp(in_dim, n_classes, hidden, dropout)

    def forward(self, x):
        return self.net(self.standardise(x))

    loss = staticmethod(cross_entropy_loss)

    @staticmethod
    def metrics(output, targets) -> dict:
        return {"accuracy": (output.argmax(-1) == targets).float().mean().item()}


class HierarchicalHead(_Head):
    def __init__(self, in_dim: int, n_cities: int, n_districts: int, hidden: int = 0, dropout: float = 0.2):
        super().__init__(in_dim)
        self.n_cities = n_cities
        self.n_districts = n_districts
        self.city = _mlp(in_dim, n_cities, hidden, dropout)
        self.district = _mlp(in_dim + n_cities, n_districts, hidden, dropout)

    def forward(self, x):
        x = self.standardise(x)
        city_logits = self.city(x)
        district_logits = self.district(torch.cat([x, city_logits.softmax(-1)], dim=-1))
        return city_logits, district_logits

    loss = staticmethod(hierarchical_loss)

    @staticmethod
    def metrics(output, targets) -> dict:
        city_logits, district_logits = output
        return {
            "city_accuracy": (city_logits.argmax(-1) == targets[:, 0]).float().mean().item(),
            "district_accuracy": (district_logits.argmax(-1) == targets[:, 1]).float().mean().item(),
        }


class RegressionHead(_Head):
    """Outputs an unnormalised 3-vector; its direction is the predicted point on the sphere."""

    def __init__(self, in_dim: int, hidden: int = 0, dropout: float = 0.2):
        super().__init__(in_dim)
        self.net = _mlp(in_dim, 3, hidden, dropout)

    def forward(self, x):
        return self.net(self.standardise(x))

    loss = staticmethod(cosine_loss)

    @staticmethod
    def metrics(output, targets) -> dict:
        predicted = xyz_to_latlon(output.detach().cpu().numpy())
        km = haversine_km_np(predicted, xyz_to_latlon(targets.cpu().numpy()))
        return {"median_km": float(np.median(km)), "mean_km": float(np.mean(km))}


def privacy_score(city_conf, district_conf, c: float = DEFAULT_CITY_CUTOFF):
    """Seed 000: 1 if the model is unsure of the city (conf < c), else 1 - district confidence."""
    city_conf = np.asarray(city_conf, dtype=np.float64)
    district_conf = np.asarray(district_conf, dtype=np.float64)
    return np.where(city_conf < c, 1.0, 1.0 - district_conf)


def _views(features, mask) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The existing views as rows (M, D), each row's location index (M,), and N."""
    features = np.asarray(features, dtype=np.float32)
    if features.ndim == 2:
        features = features[:, None, :]
    n, v, _ = features.shape
    mask = np.ones((n, v), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != (n, v):
        raise ValueError(f"mask shape {mask.shape} does not match features {features.shape[:2]}")
    if n and not mask.any(axis=1).all():
        raise ValueError("every location needs at least one view")
    locations, views = np.nonzero(mask)
    return torch.from_numpy(features[locations, views]), torch.from_numpy(locations), n


def _mean_per_location(output, locations: torch.Tensor, n: int):
    if isinstance(output, tuple):
        return tuple(_mean_per_location(part, locations, n) for part in output)
    counts = torch.bincount(locations, minlength=n).to(output.dtype).unsqueeze(-1)
    sums = torch.zeros((n, output.shape[-1]), dtype=output.dtype).index_add_(0, locations, output)
    return sums / counts


def location_outputs(head: nn.Module, features, mask=None):
    """The head's raw outputs averaged over each location's views: (N, K), or a tuple of them."""
    rows, locations, n = _views(features, mask)
    was_training = head.training
    head.eval()
    try:
        with torch.no_grad():
            return _mean_per_location(head(rows), locations, n)
    finally:
        head.train(was_training)


def predict_proba_views(head: nn.Module, feats_views, mask=None):
    """Class probabilities (N, K) from logits averaged over views before the softmax.

    For a HierarchicalHead, a (city_probs, district_probs) pair.
    """
    output = location_outputs(head, feats_views, mask)
    if isinstance(output, tuple):
        return tuple(part.softmax(-1).numpy() for part in output)
    return output.softmax(-1).numpy()


def predict_latlon_views(head: RegressionHead, feats_views, mask=None) -> np.ndarray:
    """(N, 2) lat/lon: the views' raw 3-vectors are averaged, then projected onto the sphere."""
    return xyz_to_latlon(location_outputs(head, feats_views, mask).numpy())


@dataclass
class TrainResult:
    best_state: dict
    best_epoch: int  # 1-based; the head holds this epoch's weights after train_head
    history: list[dict] = field(default_factory=list)  # one row per epoch run
    stopped_early: bool = False


def _targets_tensor(targets) -> torch.Tensor:
    targets = np.asarray(targets)
    if np.issubdtype(targets.dtype, np.integer):
        return torch.from_numpy(targets.astype(np.int64))
    return torch.from_numpy(targets.astype(np.float32))


def train_head(
    head: nn.Module,
    train,
    val,
    *,
    loss: Callable | None = None,
    max_epochs: int = 100,
    patience: int = 8,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 256,
    seed: int = 0,
    min_delta: float = 1e-3,
    progress: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train `head` with AdamW until the validation loss stops improving; keep the best epoch.

    `train` and `val` are ViewSets (or (features, targets[, mask]) tuples).
    1. Re-initialise the head's weights from `seed` and set its input statistics from the
       training views, so a run depends only on its arguments. All randomness (init,
       shuffling, dropout) runs in a forked RNG and leaves the global one untouched.
    2. Each epoch: one pass over the training views, each view one example.
    3. Validate on the view-averaged outputs per location; stop after `patience` epochs
       without improving on the best loss by a fraction `min_delta` (relative, as losses
       differ in scale: 1 - cosine is ~1e-4 at 100 km), then load the best epoch's weights.
    """
    if max_epochs < 1:
        raise ValueError("max_epochs must be at least 1")
    train, val = ViewSet(*train), ViewSet(*val)
    loss = loss or head.loss
    metrics = getattr(head, "metrics", None)
    train_rows, train_locations, _ = _views(train.features, train.mask)
    train_targets = _targets_tensor(train.targets)[train_locations]
    val_rows, val_locations, n_val = _views(val.features, val.mask)
    val_targets = _targets_tensor(val.targets)
    if not len(train_rows) or not n_val:
        raise ValueError(f"training needs train and val views; got {len(train_rows)} train, {n_val} val")

    result = TrainResult(best_state={}, best_epoch=0)
    best_loss = math.inf
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in head.modules():
            if module is not head and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        if hasattr(head, "set_input_stats"):
            head.set_input_stats(train_rows.numpy())
        optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
        shuffle = torch.Generator().manual_seed(seed)
        epochs_without_gain = 0
        for epoch in range(1, max_epochs + 1):
            head.train()
            total, count = 0.0, 0
            for batch in torch.randperm(len(train_rows), generator=shuffle).split(batch_size):
                optimizer.zero_grad()
                batch_loss = loss(head(train_rows[batch]), train_targets[batch])
                batch_loss.backward()
                optimizer.step()
                total += batch_loss.item() * len(batch)
                count += len(batch)

            head.eval()
            with torch.no_grad():
                val_output = _mean_per_location(head(val_rows), val_locations, n_val)
                row = {"epoch": epoch, "train_loss": total / max(count, 1)}
                row["val_loss"] = loss(val_output, val_targets).item()
                if metrics is not None:
                    row.update(metrics(val_output, val_targets))
            result.history.append(row)
            if progress is not None:
                progress(row)

            val_loss = math.inf if math.isnan(row["val_loss"]) else row["val_loss"]
            if result.best_epoch == 0 or val_loss < best_loss * (1 - min_delta):
                best_loss = val_loss
                result.best_epoch = epoch
                result.best_state = copy.deepcopy(head.state_dict())
                epochs_without_gain = 0
            else:
                epochs_without_gain += 1
                if epochs_without_gain >= patience:
                    result.stopped_early = True
                    break
    head.load_state_dict(result.best_state)
    head.eval()
    return result


def build_head(config):
    """The head an artefact's config describes (its weights not loaded)."""
    kind = config["head"]
    common = {"hidden": config["hidden"], "dropout": config["dropout"]}
    if kind == "flat":
        return FlatHead(config["in_dim"], config["n_classes"], **common)
    if kind == "hierarchical":
        return HierarchicalHead(config["in_dim"], config["n_cities"], config["n_districts"], **common)
    if kind == "regression":
        return RegressionHead(config["in_dim"], **common)
    raise ArtefactError(f"unknown head kind {kind!r}")
