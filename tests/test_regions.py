"""Regions: the CSV, the presets, grids, and sampling that is uniform over area and reproducible."""

import math
import re

import pytest

from geogame.common.geo import EARTH_RADIUS_KM, haversine_km
from geogame.maps import regions as R

CITIES_CSV = """name,country,lat,lon,radius_km
Stuttgart,Germany,48.7758,9.1829,6
Orleans,France,47.9022,1.9104,4
"""


def bearing_deg(lat1, lon1, lat2, lon2):
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def parse(text):
    return R.parse_regions(text.encode())


def bad_rows(text):
    with pytest.raises(R.RegionsError) as info:
        parse(text)
    return info.value.errors


# The CSV


def test_a_city_csv_gives_one_circle_per_row_named_as_its_city():
    regions = parse(CITIES_CSV)

    assert [(r.name, r.city, r.country, r.kind, r.radius_km) for r in regions] == [
        ("Stuttgart", "Stuttgart", "Germany", R.CIRCLE, 6.0),
        ("Orleans", "Orleans", "France", R.CIRCLE, 4.0),
    ]


def test_boxes_and_cities_mix_and_extra_columns_are_ignored():
    text = (
        "name,country,lat,lon,radius_km,min_lat,min_lon,max_lat,max_lon,notes\n"
        "Alps,,,,,45.8,6.0,47.8,13.0,mountains\n"
        "Bern,Switzerland,46.948,7.4474,3,,,,,capital\n"
    )

    alps, bern = parse(text)

    assert (alps.kind, alps.city, alps.min_lat, alps.max_lon) == (R.BOX, "", 45.8, 13.0)
    assert (bern.kind, bern.city) == (R.CIRCLE, "Bern")


def test_a_box_with_cell_km_becomes_a_grid_of_cells():
    text = "name,country,min_lat,min_lon,max_lat,max_lon,cell_km\nUK,United Kingdom,49.9,-8.2,60.9,1.8,100\n"

    cells = parse(text)

    assert len(cells) > 20
    assert all(c.kind == R.BOX and c.country == "United Kingdom" and c.city == "" for c in cells)
    assert cells[0].name == "UK r1c1" and cells[0].min_lat == 49.9 and cells[0].min_lon == -8.2
    assert len({c.name for c in cells}) == len(cells)


def test_every_bad_row_is_reported_with_its_row_number():
    text = (
        "name,country,lat,lon,radius_km,min_lat,min_lon,max_lat,max_lon,cell_km\n"
        "Good,X,10,10,5,,,,,\n"  # row 2
        ",X,10,10,5,,,,,\n"  # row 3: no name
        "North,X,91,10,5,,,,,\n"  # row 4: latitude out of range
        "Zero,X,10,10,0,,,,,\n"  # row 5: radius 0
        "Word,X,ten,10,5,,,,,\n"  # row 6: not a number
        "Both,X,10,10,5,1,1,2,2,\n"  # row 7: circle and box
        "Neither,X,,,,,,,,\n"  # row 8: no geometry
        "Flipped,X,,,,5,1,2,2,\n"  # row 9: min_lat > max_lat
        "Good,X,11,11,5,,,,,\n"  # row 10: duplicate name
        "Half,X,10,,5,,,,,\n"  # row 11: circle without lon
        "Cells,X,10,10,5,,,,,3\n"  # row 12: cell_km on a circle
        "Tiny,X,,,,0,0,80,80,0.5\n"
    )  # row 13: far too many cells

    errors = bad_rows(text)

    assert [int(re.match(r"row (\d+):", e).group(1)) for e in errors] == list(range(3, 14))
    assert errors[0] == "row 3: column 'name' is empty"
    assert errors[1] == "row 4: latitude 91.0 is outside [-90, 90]"
    assert errors[2] == "row 5: " + R.ERR_RADIUS.format(max=R.MAX_RADIUS_KM, value="0")
    assert errors[3] == "row 6: lat 'ten' is not a number"
    assert errors[4] == "row 7: " + R.ERR_BOTH_GEOMETRIES
    assert errors[5] == "row 8: " + R.ERR_NO_GEOMETRY
    assert errors[6] == "row 9: " + R.ERR_LAT_ORDER.format(lo=5.0, hi=2.0)
    assert errors[7] == "row 10: " + R.ERR_DUPLICATE_NAME.format(name="Good", first=2)
    assert errors[8] == "row 11: a circle needs lon too"
    assert errors[9] == "row 12: " + R.ERR_CELL_WITHOUT_BOX
    assert errors[10].startswith("row 13: cell_km 0.5 splits the box into")


def test_a_file_without_the_needed_columns_or_rows_is_refused_whole():
    for text, message in [
        ("", "regions file is empty"),
        ("city,lat,lon\nX,1,2\n", "lacks the column 'name'"),
        ("name,lat,lon\nX,1,2\n", "needs the columns lat, lon, radius_km or min_lat"),
        ("name,lat,lon,radius_km\n", "lists no regions"),
    ]:
        with pytest.raises(R.RegionsError, match=message):
            parse(text)
    with pytest.raises(R.RegionsError, match="not UTF-8"):
        R.parse_regions(b"name,lat,lon,radius_km\n\xff,1,2,3\n")


def test_a_missing_file_or_unknown_preset_is_named(tmp_path):
    with pytest.raises(R.RegionsError, match="regions file .*nope.csv not found"):
        R.regions_from_spec(str(tmp_path / "nope.csv"))
    with pytest.raises(R.RegionsError, match="unknown preset 'preset:everywhere'"):
        R.regions_from_spec("preset:everywhere")
    with pytest.raises(R.RegionsError, match="positive number of cities, got 'many'"):
        R.regions_from_spec("preset:top-cities:many")
    with pytest.raises(R.RegionsError, match="no country with ISO code 'XX'"):
        R.regions_from_spec("preset:top-cities:3:XX")


def test_a_csv_path_is_read(tmp_path):
    path = tmp_path / "cities.csv"
    path.write_text(CITIES_CSV)

    assert [r.name for r in R.regions_from_spec(str(path))] == ["Stuttgart", "Orleans"]


# Presets


def test_the_seed003_preset_is_its_eight_cities():
    regions = R.regions_from_spec("preset:seed003")

    assert [r.name for r in regions] == [
        "New York",
        "Cairo",
        "Kinki",
        "Mumbai",
        "Sao Paulo",
        "Mexico City",
        "Delhi",
        "Tokyo",
    ]
    assert all(r.kind == R.CIRCLE and r.city == r.name and r.radius_km > 0 for r in regions)


def test_top_cities_are_the_most_populous_in_order_optionally_of_one_country():
    world = R.regions_from_spec("preset:top-cities:10")
    uk = R.regions_from_spec("preset:top-cities:5:gb")

    assert len(world) == 10 and len({r.name for r in world}) == 10
    assert uk[0].name == "London" and len(uk) == 5
    assert {r.country for r in uk} == {"United Kingdom"}
    assert all(3.0 <= r.radius_km <= 25.0 for r in world + uk)
    assert R.top_cities(2, radius_km=7.5)[0].radius_km == 7.5


# Sampling


def test_sampling_is_reproducible_with_a_seed_and_changes_with_it():
    city = parse(CITIES_CSV)[0]

    first = R.sample_points(city, 50, seed=7)

    assert R.sample_points(city, 50, seed=7) == first
    assert R.sample_points(city, 20, seed=7) == first[:20]  # asking for more never moves the first ones
    assert R.sample_points(city, 50, seed=8) != first
    assert len({(p.lat, p.lon) for p in first}) == 50
    assert all(0 <= p.heading < 360 for p in first)


def test_a_regions_points_do_not_depend_on_the_other_regions():
    stuttgart, orleans = parse(CITIES_CSV)
    alone = R.parse_regions(CITIES_CSV.splitlines()[0] + "\n" + CITIES_CSV.splitlines()[2] + "\n")[0]

    assert alone == orleans
    assert R.sample_points(alone, 10, seed=1) == R.sample_points(orleans, 10, seed=1)
    assert R.sample_points(stuttgart, 10, seed=1) != R.sample_points(orleans, 10, seed=1)


def test_points_stay_inside_their_region_even_across_the_antimeridian_and_at_a_pole():
    regions = [
        R.Region.circle("Suva", -18.14, 178.44, 300.0),
        R.Region.circle("Pole", 89.9, 0.0, 200.0),
        R.Region.box("Fiji", -21.0, 176.0, -12.0, -178.0),
    ]
    for region in regions:
        points = R.sample_points(region, 500, seed=3)
        assert all(region.contains(p.lat, p.lon) for p in points), region.name
        assert all(-180 <= p.lon < 180 for p in points)
    east = [p.lon for p in R.sample_points(regions[2], 500, seed=3)]
    assert min(east) < -178.5 and max(east) > 176.5  # both sides of the antimeridian


def test_box_sampling_is_uniform_over_area_so_it_does_not_oversample_the_pole():
    # Between 60N and 90N, half the ground lies below about 68.5N (equal sin(lat) halves);
    # sampling uniform in degrees would put only a third of the points there.
    box = R.Region.box("Arctic", 60.0, -180.0, 90.0, 180.0)
    points = R.sample_points(box, 20000, seed=11)
    split = math.degrees(math.asin((math.sin(math.radians(60)) + 1) / 2))

    below = sum(p.lat < split for p in points) / len(points)
    above_85 = sum(p.lat > 85 for p in points) / len(points)

    assert below == pytest.approx(0.5, abs=0.015)
    expected_85 = (1 - math.sin(math.radians(85))) / (1 - math.sin(math.radians(60)))
    assert above_85 == pytest.approx(expected_85, abs=0.005)  # ~2.8%; uniform in degrees: ~16.7%
    assert above_85 < (90 - 85) / (90 - 60) / 3


def test_circle_sampling_is_uniform_over_the_caps_area():
    # A 2000 km cap centred at 75N: the share of points within distance d of the centre is the
    # share of the cap's area, (1 - cos(d/R)) / (1 - cos(r/R)); in particular a quarter lie
    # within about half the radius, not the half that a uniform distance would give.
    radius = 2000.0
    cap = R.Region.circle("High north", 75.0, 40.0, radius)
    points = R.sample_points(cap, 20000, seed=5)
    distances = [haversine_km(cap.lat, cap.lon, p.lat, p.lon) for p in points]

    for d in (500.0, 1000.0, 1500.0):
        expected = (1 - math.cos(d / EARTH_RADIUS_KM)) / (1 - math.cos(radius / EARTH_RADIUS_KM))
        assert sum(x <= d for x in distances) / len(distances) == pytest.approx(expected, abs=0.012), d
    assert max(distances) <= radius + 1e-6
    # and no direction from the centre is favoured (the cap reaches over the pole, so compare the
    # bearings from the centre, not latitudes)
    quadrants = [0, 0, 0, 0]
    for p in points:
        quadrants[int(bearing_deg(cap.lat, cap.lon, p.lat, p.lon) // 90) % 4] += 1
    assert [q / len(points) for q in quadrants] == pytest.approx([0.25] * 4, abs=0.015)


def test_a_small_city_keeps_its_precision():
    tiny = R.Region.circle("Block", 48.0, 9.0, 0.05)
    distances = [haversine_km(48.0, 9.0, p.lat, p.lon) for p in R.sample_points(tiny, 2000, seed=1)]

    assert max(distances) <= 0.05 + 1e-6
    assert sum(d <= 0.025 for d in distances) / len(distances) == pytest.approx(0.25, abs=0.04)


# Grids


def test_grid_cells_cover_the_box_with_cells_of_similar_area():
    box = R.Region.box("Land", 40.0, -10.0, 60.0, 20.0, country="Somewhere")

    cells = R.grid_cells(box, 200.0)

    assert sum(c.area_km2() for c in cells) == pytest.approx(box.area_km2(), rel=1e-9)
    areas = [c.area_km2() for c in cells]
    assert max(areas) / min(areas) < 1.6
    assert all(c.area_km2() == pytest.approx(200.0**2, rel=0.35) for c in cells)
    assert min(c.min_lat for c in cells) == 40.0 and max(c.max_lat for c in cells) == 60.0


def test_grid_arguments_are_checked():
    box = R.Region.box("Land", 40.0, -10.0, 60.0, 20.0)
    for cell_km in (0, -5, float("nan")):
        with pytest.raises(ValueError, match="cell_km must be a number more than 0"):
            R.grid_cells(box, cell_km)
    with pytest.raises(ValueError, match="splits a box"):
        R.grid_cells(R.Region.circle("City", 1, 1, 1), 10)


def test_regions_round_trip_through_json_dicts():
    for region in parse(CITIES_CSV) + [R.Region.box("B", 1, 2, 3, 4, country="C")]:
        assert R.Region.from_dict(region.to_dict()) == region
