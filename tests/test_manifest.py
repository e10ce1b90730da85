import pytest

from geogame.maps.manifest import ManifestError, parse_manifest

HEADER = "file,lat,lon,projection,heading,city,country,source,source_id\n"


def parse(text):
    return parse_manifest(text.encode())


def test_a_good_row_is_parsed_with_defaults():
    rows, errors = parse("file,lat,lon\nimages/a.jpg,48.5,9.25\n")
    assert errors == []
    (row,) = rows
    assert (row.file, row.lat, row.lon, row.projection, row.heading) == (
        "images/a.jpg",
        48.5,
        9.25,
        "perspective",
        None,
    )
    assert (row.source, row.source_id) == ("local", "images/a.jpg")


def test_bad_rows_are_reported_with_their_line_and_reason_and_good_rows_kept():
    text = (
        HEADER
        + "\n".join(
            [
                "a.jpg,48.5,9.2,perspective,10,Stuttgart,Germany,M,1",
                "b.jpg,95,9.2,perspective,10,Stuttgart,Germany,M,2",
                "c.jpg,abc,9.2,perspective,10,Stuttgart,Germany,M,3",
                "d.jpg,48.5,9.2,cylindrical,10,Stuttgart,Germany,M,4",
                ",48.5,9.2,perspective,10,Stuttgart,Germany,M,5",
                "f.jpg,48.5,9.2,perspective,north,Stuttgart,Germany,M,6",
                "g.jpg,48.5,9.2,perspective,10,Stuttgart,Germany,M,1",
                "../../etc/passwd,48.5,9.2,perspective,10,Stuttgart,Germany,M,8",
                "h.jpg,48.5,nan,perspective,10,Stuttgart,Germany,M,9",
                "i.jpg,48.5,9.2,perspective,10,Stuttgart,Germany,M,10,extra",
                "j.jpg,48.5,9.2,equirectangular,370,Stuttgart,Germany,M,11",
            ]
        )
        + "\n"
    )
    rows, errors = parse(text)
    assert [r.source_id for r in rows] == ["1", "11"]
    assert rows[1].heading == 10.0  # 370 wraps
    reasons = {e.line: e.reason for e in errors}
    assert "latitude 95.0 is outside" in reasons[3]
    assert "must be numbers" in reasons[4]
    assert "projection 'cylindrical'" in reasons[5]
    assert "column 'file' is empty" in reasons[6]
    assert "heading 'north' is not a number" in reasons[7]
    assert "duplicate source id M:1 (first on row 2)" in reasons[8]
    assert "relative path inside the folder" in reasons[9]
    assert "finite" in reasons[10]
    assert "has 10 fields; header has 9" in reasons[11]
    assert str(errors[0]).startswith("row 3: ")


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "empty"),
        (b"file,lat\nimages/a.jpg,1\n", "lacks required column\\(s\\): lon"),
        (b"\xff\xfe\x00\x00garbage", "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "NUL bytes|not UTF-8"),
    ],
)
def test_unusable_manifests_raise_a_clear_error(data, message):
    with pytest.raises(ManifestError, match=message):
        parse_manifest(data)


def test_the_shared_sample_manifest_format_works_as_is(shared_sample):
    rows, errors = parse_manifest((shared_sample / "manifest.csv").read_bytes())
    assert errors == []
    assert len(rows) == 65
    assert {r.projection for r in rows} == {"perspective", "equirectangular", "fisheye"}
    assert all(len(r.sha256) == 64 for r in rows)
