import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpdesk.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15s", 15), ("500ms", 0.5), ("2m", 120), ("1h30m", 5400), (" 10 ", 10), (3, 3), (1.5, 1.5)],
)
def test_parses_go_style_and_plain_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "15x", "s", "5s5", "ms15", True, None, [1]])
def test_refuses_what_is_not_a_duration(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@given(st.integers(min_value=0, max_value=10**9))
def test_format_round_trips_whole_milliseconds(millis: int) -> None:
    assert parse_duration(format_duration(millis / 1000)) == pytest.approx(millis / 1000)
