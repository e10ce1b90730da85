"""What a process loads once and reuses: the backbone, the feature cache, the device.

Imported lazily (by players and tasks), so the web process never loads torch
unless it runs a machine player itself.
"""

import functools
from pathlib import Path

from django.conf import settings


@functools.cache
def device():
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def backbone():
    from inference.backbone import load_backbone

    return load_backbone(device=device())


def feature_cache():
    from inference.backbone import BACKBONE_NAME
    from inference.features import FeatureCache

    return FeatureCache(Path(settings.DATA_DIR) / "features", BACKBONE_NAME)


def artefact_root():
    return Path(settings.DATA_DIR) / "artefacts"
