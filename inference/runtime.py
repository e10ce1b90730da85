"""What a process loads once and reuses: the backbone, the feature cache, the device;
and how its memory allocator is set for running the model.

Imported lazily (by players and tasks), so the web process never loads torch
unless it runs a machine player itself.
"""

import ctypes
import functools
import logging
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

# mallopt() parameters (glibc's malloc.h) and the values tune_allocator gives them.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
KEEP_BYTES = 1 << 30


def tune_allocator():
    """Have glibc's malloc keep the model's activation memory between forward passes.

    With glibc's defaults a forward pass in a worker thread gets its large activation buffers
    mapped afresh from the kernel and faults them in page by page (`bench/malloc_faults.py`:
    15,000 faults for three views, 380,000 and over half the CPU time in the kernel for 24):
    buffers above the mmap threshold are mapped per allocation, and so is anything over 64 MiB
    in a thread's own arena. One arena (the main one, which grows without that limit) with
    1 GiB mmap and trim thresholds serves them from memory malloc keeps: no faults after the
    first pass, at the cost of keeping the process's peak heap until it exits.

    Call it before the process starts threads (the Celery worker: at worker_init), since a
    thread keeps the arena it started with. Does nothing when settings.GEOGAME_MALLOC_TUNING
    is off or the C library has no mallopt (not glibc). Returns whether it applied the settings.
    """
    if not settings.GEOGAME_MALLOC_TUNING:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    applied = all(
        mallopt(param, value)
        for param, value in ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, KEEP_BYTES), (M_TRIM_THRESHOLD, KEEP_BYTES))
    )
    log.info("malloc tuned for the model: %s", "yes" if applied else "mallopt refused a setting")
    return applied


@functools.cache
def device():
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def backbone():
    from .backbone import load_backbone

    return load_backbone(device=device())


def feature_cache():
    from .backbone import BACKBONE_NAME
    from .features import FeatureCache

    return FeatureCache(Path(settings.DATA_DIR) / "features", BACKBONE_NAME)


def artefact_root():
    return Path(settings.DATA_DIR) / "artefacts"
