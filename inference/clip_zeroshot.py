"""StreetCLIP-style zero-shot geolocation with open_clip: no training, just prompts.

Each label (city, country) is described by a small ensemble of prompts; their normalised text
embeddings are averaged into one class embedding (CLIP's prompt ensembling). Every view of a
location is scored against every class, and the per-view logits are averaged before the
softmax, as the trained heads do (seed 003).

Weights must already be on disk: this machine has no network. A hub id or a pretrained tag
makes open_clip try to download, which fails (after huggingface_hub's retries, about 45 s,
unless HF_HUB_OFFLINE=1 is set) and is reported as ClipUnavailable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import torch

from .compat import import_open_clip

PROMPT_TEMPLATES = (
    "a street view photo in {city}, {country}.",
    "a photo taken in {city}, {country}.",
    "a street in {city}, {country}.",
    "a Google Street View image of {city}, {country}.",
    "a photo of a road in {city}, {country}.",
)
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz")


class ClipUnavailable(Exception):
    """The CLIP player cannot run here; `reason` says why, in words fit for a log or an admin page."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Clip(NamedTuple):
    model: torch.nn.Module
    tokenizer: object
    preprocess: object


def looks_like_path(pretrained) -> bool:
    """Whether GEOGAME_CLIP_PRETRAINED names a checkpoint file (rather than a hub id or tag).
    Torch-free, so the web process can list the player without loading torch."""
    if isinstance(pretrained, Path):
        return True
    return "/" in pretrained or "\\" in pretrained or pretrained.endswith(_CHECKPOINT_SUFFIXES)


def load_clip(model_name: str, pretrained: str | Path, device="cpu") -> Clip:
    """The model (eval mode), its tokenizer and its eval preprocessing, or ClipUnavailable.

    `pretrained` is a local checkpoint file (a state dict for the `model_name` architecture),
    an open_clip hub id ("hf-hub:org/name"; `model_name` is then ignored), or an open_clip
    pretrained tag such as "openai"; the last two need the network or a filled local cache.
    """
    pretrained_str = str(pretrained)
    is_hub = pretrained_str.startswith("hf-hub:")
    if not is_hub and looks_like_path(pretrained):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise ClipUnavailable(
                f"CLIP checkpoint file not found: {path} (for a Hugging Face hub id, write hf-hub:org/name)"
            )
        pretrained_str = str(path)
    source = pretrained_str if is_hub else f"{model_name} with weights {pretrained_str}"
    try:
        open_clip = import_open_clip()
        if is_hub:
            model, preprocess = open_clip.create_model_from_pretrained(pretrained_str, device=device)
            tokenizer = open_clip.get_tokenizer(pretrained_str)
        else:
            model, preprocess = open_clip.create_model_from_pretrained(
                model_name, pretrained=pretrained_str, device=device
            )
            tokenizer = open_clip.get_tokenizer(model_name)
    except Exception as exc:  # open_clip raises RuntimeError, OSError, KeyError, pickle errors...
        hint = (
            "" if looks_like_path(pretrained) else " (this machine has no network: put the weights in a file)"
        )
        raise ClipUnavailable(f"could not load CLIP {source}: {type(exc).__name__}: {exc}{hint}") from exc
    model.eval()
    return Clip(model, tokenizer, preprocess)


def label_prompts(city: str, country: str) -> list[str]:
    return [template.format(city=city, country=country) for template in PROMPT_TEMPLATES]


def encode_labels(model, tokenizer, labels: Sequence[tuple[str, str]], device="cpu") -> torch.Tensor:
    """One unit-length text embedding per (city, country): the mean of its normalised prompt embeddings."""
    import torch

    rows = []
    with torch.no_grad():
        for city, country in labels:
            tokens = tokenizer(label_prompts(city, country)).to(device)
            prompts = model.encode_text(tokens, normalize=True)
            rows.append(torch.nn.functional.normalize(prompts.mean(0), dim=-1))
    return torch.stack(rows)


def zero_shot_probs(
    model,
    tokenizer,
    preprocess,
    images_per_location: Sequence[Sequence],
    labels: Sequence[tuple[str, str]],
    *,
    text_features: torch.Tensor | None = None,
    batch_size: int = 32,
    device="cpu",
) -> np.ndarray:
    """Probabilities (N, K) over `labels` for N locations, each a list of one or more PIL views.

    `text_features` from encode_labels may be passed in to skip re-encoding the same labels.
    """
    import torch

    if any(len(views) == 0 for views in images_per_location):
        raise ValueError("every location needs at least one image")
    if text_features is None:
        text_features = encode_labels(model, tokenizer, labels, device=device)
    images = [image for views in images_per_location for image in views]
    owners = torch.tensor([i for i, views in enumerate(images_per_location) for _ in views])
    with torch.no_grad():
        image_features = torch.cat(
            [
                model.encode_image(
                    torch.stack([preprocess(image) for image in images[start : start + batch_size]]).to(
                        device
                    ),
                    normalize=True,
                )
                for start in range(0, len(images), batch_size)
            ]
        )
        logits = model.logit_scale.exp() * image_features @ text_features.T
        if getattr(model, "logit_bias", None) is not None:
            logits = logits + model.logit_bias
        logits = logits.float().cpu()
        n = len(images_per_location)
        sums = torch.zeros((n, logits.shape[1])).index_add_(0, owners, logits)
        mean_logits = sums / torch.bincount(owners, minlength=n).unsqueeze(1)
    return mean_logits.softmax(-1).numpy()
