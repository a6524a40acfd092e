"""ScrapeClock: when the next /metrics scrape is due, from the last two."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sensorpoll.export.scrapeclock import ScrapeClock


def clock(*times: float, openmetrics: bool = False, gzipped: bool = False) -> ScrapeClock:
    scrapes = ScrapeClock()
    for t in times:
        scrapes.scraped(t, openmetrics=openmetrics, gzipped=gzipped)
    return scrapes


def test_nothing_is_expected_before_two_scrapes_give_a_gap() -> None:
    assert not ScrapeClock().expected_within(10.0, 100.0)
    assert not clock(5.0).expected_within(5.5, 100.0)


def test_the_next_scrape_is_the_last_plus_the_last_gap() -> None:
    scrapes = clock(100.0, 115.0)  # Prometheus every 15 s
    assert scrapes.expected_within(129.5, 1.0)  # due at 130
    assert not scrapes.expected_within(120.0, 1.0)
    assert not scrapes.expected_within(130.5, 1.0)  # 130 passed unscraped; next due 145


def test_a_missed_scrape_moves_the_forecast_on_by_whole_gaps() -> None:
    scrapes = clock(0.0, 1.0)
    assert scrapes.expected_within(2.5, 1.0)  # 2 missed, 3 due
    assert not scrapes.expected_within(2.1, 0.5)


def test_a_scraper_gone_for_more_than_two_gaps_is_expected_no_more() -> None:
    scrapes = clock(0.0, 1.0)
    assert scrapes.expected_within(3.5, 1.0)
    assert not scrapes.expected_within(4.5, 1.0)
    scrapes.scraped(10.0, openmetrics=False, gzipped=False)  # back, after a long gap
    assert not scrapes.expected_within(11.0, 1.0)  # its next is at 19
    assert scrapes.expected_within(18.5, 1.0)


def test_the_form_is_the_last_scrape_s() -> None:
    scrapes = clock(0.0, openmetrics=True, gzipped=True)
    assert scrapes.form == (True, True)
    scrapes.scraped(1.0, openmetrics=False, gzipped=True)
    assert scrapes.form == (False, True)


@given(
    start=st.floats(0, 1e6),
    gap=st.floats(0.01, 100),
    now_offset=st.floats(0, 1e3),
    span=st.floats(0.001, 100),
)
def test_expected_means_a_forecast_scrape_falls_in_the_span(
    start: float, gap: float, now_offset: float, span: float
) -> None:
    scrapes = clock(start, start + gap)
    last = start + gap
    now = last + now_offset
    gap = scrapes.gap or 0.0
    forecast = [last + k * gap for k in range(1, 4)]  # a scraper gone after 2 gaps
    upcoming = [t for t in forecast if t > now - 1e-9]
    result = scrapes.expected_within(now, span)
    if result:
        assert upcoming
        assert upcoming[0] <= now + span + 1e-6
    elif now - last <= 2 * gap - 1e-6:
        assert not upcoming or upcoming[0] > now + span - 1e-6
