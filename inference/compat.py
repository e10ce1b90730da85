"""Import torchvision (and timm, open_clip, which import it) on this machine's builds.

PyPI's torchvision 0.28.0 is a CUDA build. Next to the CPU torch wheel its C++ extension
does not load, so the ops it would define (``torchvision::nms``, ``torchvision::qnms``) never
exist, and ``torchvision/_meta_registrations.py`` fails at import time with
``RuntimeError: operator torchvision::nms does not exist`` while registering their fake
kernels. Nothing in geogame calls nms; defining the two schemas (no kernels) lets the
import finish. We do that only after that exact failure: on a build whose extension loads,
the namespace is already owned by torchvision and a second definition would be an error.
"""

import importlib
import re
import sys

# The ops whose missing schema breaks the import, with the schema torchvision's C++ code gives them.
MISSING_OPS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_MISSING_OP_ERROR = re.compile(r"operator torchvision::(\w+) does not exist")

# Kept alive for the life of the process: dropping the Library object would undo the definitions.
_stub_library = None


def needs_op_stubs(exc: BaseException) -> bool:
    """True when `exc` is the missing-nms failure of a CUDA torchvision next to CPU torch."""
    if not isinstance(exc, RuntimeError):
        return False
    match = _MISSING_OP_ERROR.search(str(exc))
    return match is not None and match.group(1) in MISSING_OPS


def op_stubs_registered() -> bool:
    return _stub_library is not None


def _register_op_stubs() -> None:
    global _stub_library
    if _stub_library is not None:
        return
    import torch

    library = torch.library.Library("torchvision", "DEF")
    for schema in MISSING_OPS.values():
        library.define(schema)
    _stub_library = library


def _forget_partial_imports() -> None:
    """Drop the torchvision modules that the failed import left half-initialised."""
    for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
        del sys.modules[name]


def _import_with_op_stubs(name: str, importer=importlib.import_module):
    """Import `name`; on the missing-op failure only, define the ops and import once more."""
    try:
        return importer(name)
    except RuntimeError as exc:
        if not needs_op_stubs(exc):
            raise
    _register_op_stubs()
    _forget_partial_imports()
    return importer(name)


def import_torchvision():
    return _import_with_op_stubs("torchvision")


def import_timm():
    import_torchvision()
    return _import_with_op_stubs("timm")


def import_open_clip():
    import_torchvision()
    return _import_with_op_stubs("open_clip")


def import_transformers():
    """transformers, whose image models import torchvision on first use: torchvision first."""
    import_torchvision()
    import transformers

    return transformers
