"""CSV files for spreadsheets. A text cell that starts like a formula ("=", "+", "-", "@") would
be run by a spreadsheet that opens the file (CSV injection); such cells get a leading quote.
Numbers are written as they are."""

import csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(f, header, rows):
    """`header` (None: no header line), then `rows` (sequences in the header's order) to the text file `f`."""
    writer = csv.writer(f)
    if header is not None:
        writer.writerow(header)
    writer.writerows([spreadsheet_safe(v) for v in row] for row in rows)
