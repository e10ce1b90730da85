"""StreetCLIP-style zero-shot geolocation with open_clip: no training, just prompts.

Each label (city, country) is described by a small ensemble of prompts; their normalised text
embeddings are averaged into one class embedding (CLIP's prompt ensembling). Every view of a
location is scored against every class, and the per-view logits are averaged before the
softmax, as the trained heads do (seed 003).

Two formats load: open_clip's (a state-dict file, an open_clip hub id "hf-hub:org/name", a
pretrained tag) and Hugging Face transformers' CLIPModel (a checkpoint folder with config.json, or
a hub id written "hf:org/name", e.g. "hf:geolocal/StreetCLIP"), which is wrapped to the same
interface (HfClip).

Weights must already be on disk: this machine has no network. A hub id or a pretrained tag
makes open_clip try to download, which fails (after huggingface_hub's retries, about 45 s,
unless HF_HUB_OFFLINE=1 is set) and is reported as ClipUnavailable.
"""

from __future__ import annotations

import functools
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


HF_PREFIX = "hf:"  # a transformers hub id, "hf:org/name"; "hf-hub:" is open_clip's own


def is_hf_folder(pretrained) -> bool:
    """Whether `pretrained` is a transformers checkpoint folder (config.json inside). Torch-free."""
    path = Path(str(pretrained)).expanduser()
    return path.is_dir() and (path / "config.json").is_file()


def is_hf_hub_id(pretrained) -> bool:
    return str(pretrained).startswith(HF_PREFIX)


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
    if is_hf_hub_id(pretrained) or is_hf_folder(pretrained):
        return load_hf_clip(pretrained, device)
    pretrained_str = str(pretrained)
    is_hub = pretrained_str.startswith("hf-hub:")
    if not is_hub and looks_like_path(pretrained):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise ClipUnavailable(
                f"CLIP checkpoint file not found: {path} (a transformers checkpoint is a folder with "
                "config.json; hub ids: hf-hub:org/name for open_clip, hf:org/name for transformers)"
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


ERR_HF_OFFLINE = (
    "could not load the Hugging Face CLIP checkpoint {name}: it is not in this machine's Hugging Face "
    "cache and the hub cannot be reached (no network, or HF_HUB_OFFLINE is set). Download the "
    "checkpoint folder where there is a network and set GEOGAME_CLIP_PRETRAINED to that folder"
)


def load_hf_clip(pretrained, device="cpu") -> Clip:
    """A transformers CLIPModel (a checkpoint folder, or "hf:org/name") as a Clip: the model wrapped
    as HfClip, its tokenizer and image processor as open_clip-style callables; or ClipUnavailable."""
    hub_id = str(pretrained)[len(HF_PREFIX) :] if is_hf_hub_id(pretrained) else None
    source = hub_id or str(Path(str(pretrained)).expanduser())
    try:
        from .compat import import_transformers

        transformers = import_transformers()
    except ImportError as exc:
        raise ClipUnavailable(f"transformers is not installed (requirements/worker.txt): {exc}") from exc

    def load(local_only):
        model = transformers.CLIPModel.from_pretrained(source, local_files_only=local_only)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        processor = transformers.CLIPImageProcessor.from_pretrained(source, local_files_only=local_only)
        return model, tokenizer, processor

    try:
        try:
            model, tokenizer, processor = load(local_only=True)  # a folder, or the hub id's cached copy
        except OSError:
            if hub_id is None:
                raise
            model, tokenizer, processor = load(local_only=False)
    except OSError as exc:
        if hub_id is not None:
            detail = f"{type(exc).__name__}: {str(exc)[:300]}"
            raise ClipUnavailable(f"{ERR_HF_OFFLINE.format(name=hub_id)} ({detail})") from exc
        raise ClipUnavailable(f"could not load the CLIP checkpoint folder {source}: {exc}") from exc
    except Exception as exc:  # a broken config or weights file
        raise ClipUnavailable(
            f"could not load the CLIP checkpoint {source}: {type(exc).__name__}: {exc}"
        ) from exc
    model = HfClip(model).to(device).eval()

    def tokenize(texts):
        return tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")

    def preprocess(image):
        return processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"][0]

    return Clip(model, tokenize, preprocess)


@functools.cache
def _hf_module():
    import torch

    class HfClip(torch.nn.Module):
        """A transformers CLIPModel with open_clip's encode_text / encode_image / logit_scale."""

        def __init__(self, model):
            super().__init__()
            self.model = model
            self.logit_scale = model.logit_scale
            self.logit_bias = None

        @staticmethod
        def _features(output):
            # transformers returns the projected embeddings, or an output object holding them.
            return output if isinstance(output, torch.Tensor) else output.pooler_output

        def encode_text(self, tokens, normalize=False):
            features = self._features(self.model.get_text_features(**tokens))
            return torch.nn.functional.normalize(features, dim=-1) if normalize else features

        def encode_image(self, pixels, normalize=False):
            features = self._features(self.model.get_image_features(pixel_values=pixels))
            return torch.nn.functional.normalize(features, dim=-1) if normalize else features

    return HfClip


def HfClip(model):  # noqa: N802  (the class is built on first use: torch is imported lazily)
    return _hf_module()(model)


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
