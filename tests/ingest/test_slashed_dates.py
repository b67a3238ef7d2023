"""has_slashed_dates: whether a file needs its date columns' order decided at all."""

import pytest

from abm_site.csvio.dates import has_slashed_dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("when\n2026-01-05T10:00:00+00:00\n", False),  # ISO: no order needed
        ("when\n1/5/2024\n", True),
        ("when\n01.05.24 3:45 PM\n", True),
        ("a,12-3-99\n", True),
        ("x,2026-01-01,1.5.2024", True),  # an ISO date first, then a slashed one
        ("11/2/20245", False),  # a fifth year digit: no date
        ("11/2/2024/7", False),  # a fourth part: no date
        ("5.1/2/2024", False),  # a separator before the day: part of something else
        ("/1/2/2024", False),
        ("a1.2.3.4", False),  # a version number, not a date
        ("version 1.2.33", True),  # three short parts read as a date, as before
        ("version 1.2.3", False),  # a one-digit last part is no year
        ("", False),
    ],
)
def test_slashed_dates_are_found_where_the_whole_text_search_found_them(text, expected):
    assert has_slashed_dates(text) is expected
