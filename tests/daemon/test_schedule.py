"""The fixed grid: no drift, overruns skip ahead and are counted."""

from __future__ import annotations

from sensorpoll.daemon.schedule import Grid


def test_grid_points_are_origin_plus_k_intervals_however_long_cycles_take() -> None:
    grid = Grid(interval=0.1, origin=100.0)
    for _ in range(1000):
        # each cycle ends 90 ms after its start: just inside the next point
        assert grid.advance(now=grid.next_point + 0.09) == 0
    assert abs(grid.next_point - 200.0) < 1e-9  # no accumulated drift after 1000 cycles
    assert grid.overruns == 0


def test_an_overrun_skips_to_the_next_point_ahead_and_counts_once() -> None:
    grid = Grid(interval=1.0, origin=0.0)
    skipped = grid.advance(now=3.5)  # the cycle of point 0 ended at 3.5
    assert skipped == 3  # points 1, 2, 3 are gone
    assert grid.next_point == 4.0
    assert grid.overruns == 1


def test_alignment_starts_on_a_wall_clock_multiple_of_the_interval() -> None:
    grid = Grid.aligned(interval=1.0, loop_now=500.0, wall_now=1_700_000_000.25)
    assert abs(grid.next_point - 500.75) < 1e-9
