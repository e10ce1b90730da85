"""Saving and loading a trained player: weights + label map + config + metrics, and the ids of
the locations it trained and early-stopped on (meta["trained_on"]).

Layout: <DATA_DIR>/artefacts/<map slug>/<player>/v<version>/{weights.pt, meta.json}.
"""

import json
import os
import tempfile
from pathlib import Path

from . import runtime

META_NAME = "meta.json"
WEIGHTS_NAME = "weights.pt"
TRAINED_ON_KEY = "trained_on"  # {"train": [location id, ...], "val": [...]}


class ArtefactError(Exception):
    """An artefact is missing or unreadable; the message names the file and the reason."""


def artefact_dir(map_slug, player_name, version):
    return runtime.artefact_root() / map_slug / player_name / f"v{version}"


def _write_atomic(path, write):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_artefact(directory, *, state_dict, meta):
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(directory / WEIGHTS_NAME, lambda f: torch.save(state_dict, f))
    _write_atomic(directory / META_NAME, lambda f: f.write(json.dumps(meta, indent=1).encode()))


def load_artefact(directory):
    """(state_dict, meta) or ArtefactError saying which file is wrong and how."""
    import torch

    directory = Path(directory)
    meta_path, weights_path = directory / META_NAME, directory / WEIGHTS_NAME
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise ArtefactError(f"artefact file missing: {path}")
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict) or "config" not in meta or "labels" not in meta:
            raise ValueError("expected an object with 'config' and 'labels'")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtefactError(f"artefact file corrupt: {meta_path} ({exc})") from None
    try:
        state_dict = torch.load(weights_path, map_location="cpu", weights_only=True)
        if not isinstance(state_dict, dict):
            raise ValueError("not a state dict")
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise ArtefactError(f"artefact file corrupt: {weights_path} ({type(exc).__name__}: {exc})") from None
    return state_dict, meta


def read_meta(directory):
    """meta.json alone (no torch), or ArtefactError."""
    path = Path(directory) / META_NAME
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtefactError(f"artefact file missing: {path}") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ArtefactError(f"artefact file corrupt: {path} ({exc})") from None
    if not isinstance(meta, dict):
        raise ArtefactError(f"artefact file corrupt: {path} (expected an object)")
    return meta


def trained_location_ids(meta):
    """The ids of the locations an artefact trained and early-stopped on, or None for an artefact
    saved before they were recorded."""
    record = meta.get(TRAINED_ON_KEY)
    if not isinstance(record, dict):
        return None
    return frozenset(int(i) for split in ("train", "val") for i in record.get(split, ()))
