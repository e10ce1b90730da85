import subprocess
import sys
from pathlib import Path

import pytest

from inference import compat

REPO = Path(__file__).resolve().parents[2]
NMS_ERROR = RuntimeError("operator torchvision::nms does not exist")


class FakeImporter:
    """Fails with the given errors in turn, then returns a stand-in module."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, name):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return f"module {name}"


@pytest.fixture
def registrations(monkeypatch):
    calls = []
    monkeypatch.setattr(compat, "_register_op_stubs", lambda: calls.append("registered"))
    monkeypatch.setattr(compat, "_forget_partial_imports", lambda: calls.append("forgotten"))
    return calls


def test_it_recognises_the_missing_nms_operator_error():
    assert compat.needs_op_stubs(NMS_ERROR)
    assert compat.needs_op_stubs(RuntimeError("operator torchvision::qnms does not exist"))


def test_it_does_not_mistake_other_errors_for_the_missing_operator():
    assert not compat.needs_op_stubs(RuntimeError("operator torchvision::roi_align does not exist"))
    assert not compat.needs_op_stubs(RuntimeError("CUDA error: no kernel image is available"))
    assert not compat.needs_op_stubs(ImportError("operator torchvision::nms does not exist"))


def test_it_registers_nothing_when_the_plain_import_works(registrations):
    importer = FakeImporter()
    assert compat._import_with_op_stubs("torchvision", importer) == "module torchvision"
    assert registrations == []
    assert importer.calls == 1


def test_it_registers_the_ops_and_retries_after_the_missing_operator_error(registrations):
    importer = FakeImporter(NMS_ERROR)
    assert compat._import_with_op_stubs("torchvision", importer) == "module torchvision"
    assert registrations == ["registered", "forgotten"]
    assert importer.calls == 2


def test_it_reraises_other_import_failures_untouched(registrations):
    importer = FakeImporter(RuntimeError("something else broke"))
    with pytest.raises(RuntimeError, match="something else broke"):
        compat._import_with_op_stubs("torchvision", importer)
    assert registrations == []


def test_it_imports_torchvision_timm_and_open_clip_in_a_fresh_interpreter():
    # A fresh process, so that the first import really meets this machine's torchvision build.
    script = (
        "from inference import compat\n"
        "compat.import_torchvision(); timm = compat.import_timm(); compat.import_open_clip()\n"
        "timm.create_model('tf_efficientnet_lite0', pretrained=False)\n"
        "print(compat.op_stubs_registered())\n"
    )
    probe = subprocess.run(
        [sys.executable, "-c", "import torchvision"], capture_output=True, text=True, cwd=REPO
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    registered = done.stdout.split()[-1]
    # Stubs exactly when a plain import fails with the missing-operator error.
    plain_import_failed = "operator torchvision::nms does not exist" in probe.stderr
    assert registered == str(plain_import_failed)
