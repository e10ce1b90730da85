import csv

import pytest
from django.core.management import CommandError, call_command

from geogame.maps.models import Location
from harness.fixture_map import make_image_bytes

pytestmark = pytest.mark.django_db


def test_play_imports_the_demo_pack_from_a_local_copy(settings, shared_sample, capsys):
    settings.GEOGAME_SAMPLE_DIR = str(shared_sample)
    call_command("play", "--no-serve")
    assert Location.objects.count() == 65
    call_command("play", "--no-serve")  # a second start imports nothing again
    assert Location.objects.count() == 65


def test_play_says_what_to_do_when_no_copy_and_no_network(settings, tmp_path):
    # A manifest whose source is a closed port on loopback: "offline".
    (tmp_path / "img.jpg").write_bytes(make_image_bytes())
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "lat", "lon", "source_url", "sha256"])
        w.writerow(["images/a.jpg", "1", "2", "http://127.0.0.1:9/a.jpg", "0" * 64])
    settings.GEOGAME_SAMPLE_MANIFEST = str(manifest)
    settings.GEOGAME_SAMPLE_DIR = ""
    settings.BASE_DIR = tmp_path  # no sibling shared/ folder
    with pytest.raises(CommandError) as err:
        call_command("play", "--no-serve")
    message = str(err.value)
    assert "cannot reach 127.0.0.1" in message
    assert "GEOGAME_SAMPLE_DIR" in message and "--from DIR" in message
    assert "import_map FOLDER" in message
    assert Location.objects.count() == 0
