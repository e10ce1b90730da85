"""Imports whose rows are all rejected create nothing; an operator's folder may hold symbolic links."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from geogame.maps.importer import import_map
from geogame.maps.models import Location, Map
from harness.fixture_map import make_image_bytes, write_manifest

pytestmark = pytest.mark.django_db


def rejected_folder(folder):
    (folder / "images").mkdir(parents=True)
    (folder / "images/notes.jpg").write_bytes(b"just some text pretending to be a jpeg")
    write_manifest(
        folder,
        [
            {"file": "images/notes.jpg", "lat": "48.7", "lon": "9.1", "source_id": "1"},
            {"file": "images/missing.jpg", "lat": "48.7", "lon": "9.1", "source_id": "2"},
        ],
    )
    return folder


def test_an_import_whose_rows_are_all_rejected_creates_no_map(tmp_path):
    report = import_map(rejected_folder(tmp_path / "bad"), name="Nothing good")
    assert report.map is None and report.created == 0
    assert [e.line for e in report.errors] == [2, 3]
    assert not Map.objects.exists()
    assert "Nothing good" not in Client().get("/").content.decode()


def test_the_command_says_nothing_was_imported_and_fails(tmp_path, capsys):
    folder = rejected_folder(tmp_path / "bad")
    expected = r"nothing imported: all 2 row\(s\) .* were rejected .*; no map 'Nothing good' was created"
    with pytest.raises(CommandError, match=expected):
        call_command("import_map", str(folder), "--name", "Nothing good", "--no-progress")
    err = capsys.readouterr().err
    assert "skipped row 2: not an image" in err
    assert "skipped row 3: file images/missing.jpg not found" in err
    assert not Map.objects.exists()


def test_rejected_rows_leave_an_existing_map_as_it_was(tmp_path, fixture_map):
    before = Location.objects.filter(map=fixture_map).count()
    report = import_map(rejected_folder(tmp_path / "bad"), name=fixture_map.name)
    assert report.map == fixture_map and report.created == 0 and len(report.errors) == 2
    assert Location.objects.filter(map=fixture_map).count() == before


def test_a_bad_map_name_still_fails_before_any_row(tmp_path):
    with pytest.raises(ValueError, match="no letters or digits"):
        import_map(rejected_folder(tmp_path / "bad"), name="!!!")


def test_the_operator_command_follows_a_symlinked_images_folder(tmp_path, capsys):
    elsewhere = tmp_path / "disk2" / "photos"
    elsewhere.mkdir(parents=True)
    (elsewhere / "a.jpg").write_bytes(make_image_bytes(seed=1))
    folder = tmp_path / "map"
    folder.mkdir()
    (folder / "images").symlink_to(elsewhere, target_is_directory=True)
    (folder / "b.jpg").symlink_to(elsewhere / "a.jpg")
    write_manifest(
        folder,
        [
            {"file": "images/a.jpg", "lat": "48.7", "lon": "9.1", "source_id": "1"},
            {"file": "b.jpg", "lat": "48.8", "lon": "9.2", "source_id": "2"},
            {"file": "../disk2/photos/a.jpg", "lat": "48.8", "lon": "9.2", "source_id": "3"},
        ],
    )
    call_command("import_map", str(folder), "--name", "Linked", "--no-progress")
    assert "2 imported, 0 already present, 1 skipped" in capsys.readouterr().out
    assert Location.objects.filter(map__slug="linked").count() == 2
    report = import_map(folder, name="Linked")
    assert [str(e) for e in report.errors] == [
        "row 4: file '../disk2/photos/a.jpg' must be a relative path inside the folder"
    ]
