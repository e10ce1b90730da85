import csv
import io

from geogame.common.csv_export import spreadsheet_safe, write_csv


def test_text_that_a_spreadsheet_would_run_is_quoted_and_numbers_are_not():
    assert spreadsheet_safe('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert [spreadsheet_safe(v) for v in ("+1", "-x", "@cmd", "\tx")] == ["'+1", "'-x", "'@cmd", "'\tx"]
    assert [spreadsheet_safe(v) for v in (-33.9, -2, 0, None, "Paris, France")] == [
        -33.9,
        -2,
        0,
        "",
        "Paris, France",
    ]


def test_write_csv_round_trips_plain_rows():
    buf = io.StringIO()
    write_csv(buf, ["a", "b"], [[1, "x, y"], [None, "=1+1"]])
    assert list(csv.reader(io.StringIO(buf.getvalue()))) == [["a", "b"], ["1", "x, y"], ["", "'=1+1"]]
