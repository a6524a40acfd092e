"""The request planner: table-driven cases, then properties over random field layouts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorpoll.drivers.modbus.config import MAX_BITS, ModbusField
from sensorpoll.drivers.modbus.plan import plan_requests


def f(name: str, address: int, type_: str = "uint16", table: str = "holding", **kw) -> ModbusField:
    return ModbusField(name=name, table=table, address=address, type=type_, **kw)


def spans(plan):
    return [(r.table, r.address, r.count) for r in plan.requests]


# name -> (fields, planner options, expected (table, address, count) requests)
CASES = {
    "adjacent_fields_are_one_request": (
        [f("a", 0), f("b", 1, "float32"), f("c", 3)],
        {},
        [("holding", 0, 4)],
    ),
    "gap_within_max_gap_is_read_through": (
        [f("a", 0), f("b", 11)],
        {"max_gap": 10},
        [("holding", 0, 12)],
    ),
    "gap_beyond_max_gap_splits": (
        [f("a", 0), f("b", 12)],
        {"max_gap": 10},
        [("holding", 0, 1), ("holding", 12, 1)],
    ),
    "zero_max_gap_merges_only_touching_fields": (
        [f("a", 0), f("b", 1), f("c", 3)],
        {"max_gap": 0},
        [("holding", 0, 2), ("holding", 3, 1)],
    ),
    "tables_are_never_mixed": (
        [f("a", 0), f("b", 1, table="input"), f("c", 1)],
        {},
        [("holding", 0, 2), ("input", 1, 1)],
    ),
    "fields_out_of_order_are_sorted": (
        [f("b", 5), f("a", 0)],
        {},
        [("holding", 0, 6)],
    ),
    "a_request_never_exceeds_125_registers": (
        [f("a", 0), f("b", 124), f("c", 125)],
        {"max_gap": 200},
        [("holding", 0, 125), ("holding", 125, 1)],
    ),
    "multi_register_field_is_never_split_at_the_limit": (
        [f("a", 0), f("b", 124, "float32")],
        {"max_gap": 200},
        [("holding", 0, 1), ("holding", 124, 2)],
    ),
    "device_limit_lower_than_the_protocol": (
        [f("a", 0), f("b", 10), f("c", 20)],
        {"max_registers": 16},
        [("holding", 0, 11), ("holding", 20, 1)],
    ),
    "overlapping_fields_share_registers": (
        [f("whole", 0, "uint32"), f("high", 0), f("low", 1)],
        {},
        [("holding", 0, 2)],
    ),
    "coils_merge_up_to_2000_bits": (
        [f("a", 0, "bool", "coil"), f("b", 1999, "bool", "coil"), f("c", 2000, "bool", "coil")],
        {"max_gap": 5000},
        [("coil", 0, 2000), ("coil", 2000, 1)],
    ),
    "one_request_per_field": (
        [f("a", 0), f("b", 1), f("c", 2, "float32")],
        {"one_per_field": True},
        [("holding", 0, 1), ("holding", 1, 1), ("holding", 2, 2)],
    ),
    "string_spans_its_count": (
        [f("serial", 200, "string", count=4), f("v", 204)],
        {},
        [("holding", 200, 5)],
    ),
}


@pytest.mark.parametrize(("fields", "options", "expected"), CASES.values(), ids=list(CASES))
def test_plan(fields, options, expected):
    assert spans(plan_requests(fields, **options)) == expected


TYPES = ["uint16", "int32", "float32", "float64", "uint64"]


@st.composite
def layouts(draw):
    count = draw(st.integers(1, 40))
    fields = []
    for i in range(count):
        table = draw(st.sampled_from(["holding", "input", "coil"]))
        type_ = "bool" if table == "coil" else draw(st.sampled_from(TYPES))
        address = draw(st.integers(0, 3000))
        fields.append(f(f"f{i}", address, type_, table))
    return fields


@settings(max_examples=200, deadline=None)
@given(layouts(), st.integers(4, 125), st.integers(0, 130))
def test_every_field_is_read_whole_exactly_once_within_the_limits(fields, limit, gap):
    plan = plan_requests(fields, max_registers=limit, max_gap=gap)
    covered = [field.name for r in plan.requests for field in r.fields]
    assert sorted(covered) == sorted(field.name for field in fields)
    for request in plan.requests:
        cap = MAX_BITS if request.table == "coil" else limit
        assert 1 <= request.count <= cap
        for field in request.fields:
            assert field.table == request.table
            assert request.address <= field.address
            assert field.address + field.size <= request.end
        # no unread stretch inside a request is longer than max_gap
        ends = sorted((fl.address, fl.address + fl.size) for fl in request.fields)
        reach = ends[0][1]
        for start, end in ends[1:]:
            assert start - reach <= gap
            reach = max(reach, end)


@settings(max_examples=100, deadline=None)
@given(layouts())
def test_merged_plan_never_needs_more_requests_than_one_per_field(fields):
    merged = plan_requests(fields)
    single = plan_requests(fields, one_per_field=True)
    assert len(merged) <= len(single) == len(fields)
