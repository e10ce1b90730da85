"""On-disk cache of backbone features, keyed by image content and backbone.

One `.npy` per image under `root/<backbone>/<first two hex digits>/<sha256>.npy`. Files are
written to a temporary name and renamed into place, so a reader (or a second worker filling
the same cache) sees either no file or a whole one, never a torn write. Two workers racing on
the same image both compute it and the last rename wins; the contents are identical.
"""

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from .preprocessing import decode_view

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FeatureCache:
    def __init__(self, root: Path, backbone_name: str):
        if not _SAFE_NAME.fullmatch(backbone_name):
            raise ValueError(f"backbone name {backbone_name!r} is not a safe directory name")
        self.backbone_name = backbone_name
        self.directory = Path(root) / backbone_name

    def path_for(self, sha256: str) -> Path:
        # The hash becomes a file name, so anything but 64 lowercase hex digits is refused.
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"{sha256!r} is not a lowercase sha256 hex digest")
        return self.directory / sha256[:2] / f"{sha256}.npy"

    def get_many(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached features among `hashes`; missing ones are simply absent from the result."""
        found = {}
        for sha256 in hashes:
            try:
                found[sha256] = np.load(self.path_for(sha256))
            except FileNotFoundError:  # not cached yet, or pruned a moment ago: a miss
                pass
        return found

    def put_many(self, features: Mapping[str, np.ndarray]) -> None:
        for sha256, vector in features.items():
            path = self.path_for(sha256)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{sha256[:8]}-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    np.save(handle, np.asarray(vector, dtype=np.float32))
                os.replace(tmp_name, path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise

    def features_for(
        self,
        items: Iterable,
        model,
        *,
        batch_size: int = 32,
        device="cpu",
        embed: Callable | None = None,
    ) -> np.ndarray:
        """Features for `items`, in order, running the backbone only on images not cached yet.

        An item is either the image file's bytes, or a `(sha256, loader)` pair whose loader
        returns bytes or a PIL image and is called only on a cache miss.
        1. Hash every item and read what the cache already holds.
        2. Load the missing images and embed them `batch_size` at a time (`embed`, by
           default `backbone.embed_images`), storing each batch as soon as it is done.
        3. Return the rows in the order of `items`.
        """
        keyed = [_key_and_loader(item) for item in items]
        hashes = [sha256 for sha256, _ in keyed]
        found = self.get_many(dict.fromkeys(hashes))
        missing = {sha256: loader for sha256, loader in keyed if sha256 not in found}
        if missing:
            if embed is None:
                from .backbone import embed_images as embed
            pending = list(missing.items())
            for start in range(0, len(pending), batch_size):
                chunk = pending[start : start + batch_size]
                images = [_as_image(loader()) for _, loader in chunk]
                vectors = embed(model, images, batch_size=batch_size, device=device)
                computed = {sha256: vectors[i] for i, (sha256, _) in enumerate(chunk)}
                self.put_many(computed)
                found.update(computed)
        if not hashes:
            return np.empty((0, 0), dtype=np.float32)
        return np.stack([found[sha256] for sha256 in hashes]).astype(np.float32, copy=False)


def _key_and_loader(item) -> tuple[str, Callable]:
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        return content_hash(data), lambda: data
    sha256, loader = item
    return sha256, loader


def _as_image(loaded) -> Image.Image:
    if isinstance(loaded, Image.Image):
        return loaded.convert("RGB")
    return decode_view(loaded)
