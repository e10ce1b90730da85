import io

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from geogame.maps.importer import import_map
from geogame.maps.manifest import ManifestError
from geogame.maps.models import Location, Map, View
from harness.fixture_map import build_fixture_folder, make_image_bytes, write_manifest

pytestmark = pytest.mark.django_db


def test_it_imports_photos_as_single_views_and_panoramas_as_three(fixture_folder):
    report = import_map(fixture_folder, name="Fixture world")
    assert report.errors == []
    assert report.created == 16
    pano = Location.objects.get(source="KartaView")
    assert [v.heading for v in pano.views.order_by("index")] == [30.0, 150.0, 270.0]
    photo = Location.objects.filter(source="Mapillary").first()
    assert photo.views.count() == 1
    assert photo.views.get().heading == 90.0


def test_served_images_are_bounded_and_carry_no_exif(fixture_map):
    for view in View.objects.all():
        data = view.image.read()
        im = Image.open(io.BytesIO(data))
        assert max(im.size) <= 1024
        assert not im.getexif()
        assert b"SecretCam" not in data


def test_reimport_is_idempotent(fixture_folder):
    import_map(fixture_folder, name="Fixture world")
    before = (Location.objects.count(), View.objects.count())
    again = import_map(fixture_folder, name="Fixture world")
    assert (again.created, again.already_present) == (0, 16)
    assert (Location.objects.count(), View.objects.count()) == before


def test_splits_are_seeded_and_views_follow_their_location(tmp_path):
    build_fixture_folder(tmp_path, per_city=8, held_out=False)  # no split column: the seeded hash
    m = import_map(tmp_path, name="A", seed=5).map
    splits_a = dict(Location.objects.filter(map=m).values_list("source_id", "split"))
    m2 = import_map(tmp_path, name="B", seed=5).map
    assert dict(Location.objects.filter(map=m2).values_list("source_id", "split")) == splits_a
    assert set(splits_a.values()) == {"train", "val", "test", "play"}  # new maps: the default fractions
    assert m.split_fractions == {"train": 0.6, "val": 0.15, "test": 0.1, "play": 0.15}


def test_a_new_maps_split_fractions_are_set_at_import_and_the_manifests_split_is_kept(tmp_path):
    rows = build_fixture_folder(tmp_path, per_city=8, held_out=False)
    rows[0]["split"], rows[1]["split"] = "play", "test"
    write_manifest(tmp_path, rows)
    splits = "train=0.5,val=0.2,play=0.3"
    call_command("import_map", str(tmp_path), "--name", "Held", "--splits", splits, "--no-progress")
    m = Map.objects.get(slug="held")
    assert m.split_fractions == {"train": 0.5, "val": 0.2, "test": 0.0, "play": 0.3}
    splits = dict(Location.objects.filter(map=m).values_list("source_id", "split"))
    assert splits[rows[0]["source_id"]] == "play" and splits[rows[1]["source_id"]] == "test"
    assert set(splits.values()) == {"train", "val", "test", "play"}  # test only where the manifest says
    assert list(splits.values()).count("test") == 1
    # Adding to the map keeps its fractions; asking for others is refused, and says what to run.
    call_command("import_map", str(tmp_path), "--name", "Held", "--no-progress")
    with pytest.raises(CommandError, match="split train=0.5,val=0.2,test=0,play=0.3; .* resplit held"):
        call_command("import_map", str(tmp_path), "--name", "Held", "--splits", "train=0.6,val=0.4")
    for bad, message in [
        ("train=0.6,val=0.6", "must add up to 1, not 1.2"),
        ("train=0.6,holdout=0.4", "unknown split 'holdout'"),
        ("train", "name=fraction pairs"),
        ("train=-0.5,val=1.5", "from 0 to 1"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("import_map", str(tmp_path), "--name", "Other", "--splits", bad)
    assert not Map.objects.filter(slug="other").exists()


def test_resplit_redraws_the_splits_and_refuses_while_a_trained_player_exists(tmp_path, capsys):
    from inference.models import TrainedModel

    build_fixture_folder(tmp_path, per_city=8, held_out=False)
    m = import_map(tmp_path, name="Old", splits={"train": 0.7, "val": 0.15, "test": 0.15}).map
    assert not Location.objects.filter(map=m, split="play").exists()
    TrainedModel.objects.create(map=m, player_name="ensemble", version=1, status=TrainedModel.READY)
    with pytest.raises(CommandError, match="1 trained player version.*--force"):
        call_command("resplit", "old", "--splits", "train=0.6,val=0.15,test=0.1,play=0.15")
    assert not Location.objects.filter(map=m, split="play").exists()
    call_command("resplit", "old", "--splits", "train=0.6,val=0.15,test=0.1,play=0.15", "--force")
    m.refresh_from_db()
    assert m.split_fractions["play"] == 0.15
    fresh = import_map(tmp_path, name="Fresh").map  # the same rows, split at import by the same fractions
    assert dict(Location.objects.filter(map=m).values_list("source_id", "split")) == dict(
        Location.objects.filter(map=fresh).values_list("source_id", "split")
    )
    assert "splits train/val/test/play = " in capsys.readouterr().out
    with pytest.raises(CommandError, match="no map 'nowhere'"):
        call_command("resplit", "nowhere", "--splits", "train=1")


def test_bad_rows_are_reported_and_skipped_cleanly(tmp_path):
    folder = tmp_path / "bad"
    (folder / "images").mkdir(parents=True)
    (folder / "images/good.jpg").write_bytes(make_image_bytes(seed=1))
    (folder / "images/corrupt.jpg").write_bytes(make_image_bytes(seed=2)[:300])
    (folder / "images/notes.jpg").write_bytes(b"just some text pretending to be a jpeg")
    (folder / "images/wide.jpg").write_bytes(make_image_bytes(size=(300, 250), seed=3))
    (folder / "images/hash.jpg").write_bytes(make_image_bytes(seed=4))
    base = {"lat": "48.7", "lon": "9.1", "city": "Stuttgart", "country": "Germany", "source": "M"}
    write_manifest(
        folder,
        [
            {**base, "file": "images/good.jpg", "source_id": "1"},
            {**base, "file": "images/missing.jpg", "source_id": "2"},
            {**base, "file": "images/corrupt.jpg", "source_id": "3"},
            {**base, "file": "images/notes.jpg", "source_id": "4"},
            {**base, "file": "images/wide.jpg", "source_id": "5", "projection": "equirectangular"},
            {**base, "file": "images/hash.jpg", "source_id": "6", "sha256": "0" * 64},
            {**base, "file": "images/good.jpg", "source_id": "7", "lat": "-91"},
        ],
    )
    report = import_map(folder, name="Bad")
    assert report.created == 1
    reasons = {e.line: e.reason for e in report.errors}
    assert reasons[3] == "file images/missing.jpg not found"
    assert "corrupt or truncated" in reasons[4]
    assert "not an image" in reasons[5]
    assert "declared equirectangular but the image is 300x250" in reasons[6]
    assert "sha256 of images/hash.jpg does not match" in reasons[7]
    assert "latitude -91.0 is outside" in reasons[8]
    assert Location.objects.count() == 1


def test_a_folder_without_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="no manifest.csv in"):
        import_map(tmp_path, name="Nothing")


def test_the_command_reports_rows_and_splits(fixture_folder, capsys):
    call_command("import_map", str(fixture_folder), "--name", "Cmd map", "--no-progress")
    out = capsys.readouterr().out
    assert "16 imported, 0 already present, 0 skipped" in out
    assert Map.objects.get(slug="cmd-map")


def test_the_command_fails_clearly_on_a_bad_folder_or_name(tmp_path):
    with pytest.raises(CommandError, match="no manifest.csv"):
        call_command("import_map", str(tmp_path), "--name", "X")
    with pytest.raises(CommandError, match="no letters or digits"):
        (tmp_path / "manifest.csv").write_text("file,lat,lon\n")
        call_command("import_map", str(tmp_path), "--name", "!!!")


def test_region_maps_score_on_their_own_diagonal(fixture_folder):
    m = import_map(fixture_folder, name="Region", kind=Map.REGION).map
    assert 10000 < m.scale_km < 20000  # Singapore to Aurora spans most of the world
    assert m.scale_km != Map._meta.get_field("scale_km").default


def test_the_shared_sample_imports_completely(shared_sample):
    report = import_map(shared_sample, name="Streetscapes sample")
    assert report.errors == []
    assert report.created == 65
    assert View.objects.count() == 65 + 2 * 13  # panoramas become three views
    cities = set(Location.objects.values_list("city", flat=True))
    assert cities == {"Orleans", "Aurora", "Hameln", "Stuttgart", "Singapore"}
