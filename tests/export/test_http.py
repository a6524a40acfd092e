"""The HTTP server over loopback: negotiation, the cycle API, health, one cycle per scrape."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
import urllib.request

import aiohttp
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from sensorpoll.daemon.devices import Devices
from tests.conftest import free_port
from tests.export.helpers import make_cycle, sensorpoll_run, serving, settings_from

CONFIG = """
interval: 1s
devices:
  - name: chiller
    driver: simulated
    fields:
      - {name: temperature, unit: celsius, value: 12.5}
      - {name: model, value: "<script>x</script>"}
  - name: furnace
    driver: simulated
    fields: [{name: temperature, unit: celsius, value: 900}]
"""
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
VALUES = {"chiller": {"temperature": 12.5, "model": "<script>x</script>"}}


async def test_metrics_are_plain_text_by_default() -> None:
    async with serving(settings_from(CONFIG)) as (exporter, url), aiohttp.ClientSession() as client:
        exporter.publish(make_cycle(1, VALUES, {"furnace": "timeout"}))
        async with client.get(url + "metrics", headers={"Accept-Encoding": "identity"}) as response:
            assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            assert "Content-Encoding" not in response.headers
            body = await response.text()
    assert 'lab_temperature_celsius{device="chiller"} 12.5\n' in body
    assert "# EOF" not in body


async def test_metrics_are_gzipped_when_the_client_accepts_gzip() -> None:
    async with (
        serving(settings_from(CONFIG)) as (exporter, url),
        aiohttp.ClientSession(auto_decompress=False) as client,
    ):
        exporter.publish(make_cycle(1, VALUES, {"furnace": "timeout"}))
        async with client.get(url + "metrics", headers={"Accept-Encoding": "identity"}) as plain:
            expected = await plain.read()
        async with client.get(url + "metrics", headers={"Accept-Encoding": "gzip, deflate"}) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            assert "Accept-Encoding" in r.headers["Vary"]
            compressed = await r.read()
    assert gzip.decompress(compressed) == expected
    assert len(compressed) < len(expected)


async def test_metrics_are_openmetrics_when_prometheus_asks_and_end_with_eof() -> None:
    async with serving(settings_from(CONFIG)) as (exporter, url), aiohttp.ClientSession() as client:
        exporter.publish(make_cycle(1, VALUES, {"furnace": "timeout"}))
        headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
        async with client.get(url + "metrics", headers=headers) as response:
            content_type = response.headers["Content-Type"]
            body = await response.text()  # aiohttp decompresses
    assert content_type == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert body.endswith("\n# EOF\n")
    families = {f.name: f for f in parse_openmetrics(body)}
    assert families["sensorpoll_device_errors"].type == "counter"
    assert families["sensorpoll_device_up"].samples[1].value == 0


async def test_metrics_before_the_first_cycle_answer_200_with_sensorpoll_s_own_metrics() -> None:
    async with (
        serving(settings_from(CONFIG)) as (_, url),
        aiohttp.ClientSession() as client,
        client.get(url + "metrics") as response,
    ):
        assert response.status == 200
        families = {f.name: f for f in parse_text(await response.text())}
    assert [s.value for s in families["sensorpoll_cycles"].samples] == [0]
    assert {s.labels["device"] for s in families["sensorpoll_device_errors"].samples} == {
        "chiller",
        "furnace",
    }
    assert "process_resident_memory_bytes" in families
    assert "sensorpoll_build_info" in families
    assert "sensorpoll_device_up" not in families  # no read yet: health unknown, not down


async def test_cycle_api_serves_the_latest_cycle_as_json() -> None:
    async with serving(settings_from(CONFIG)) as (exporter, url), aiohttp.ClientSession() as client:
        exporter.publish(make_cycle(1, VALUES, {"furnace": "timeout"}))
        exporter.publish(make_cycle(2, VALUES, {"furnace": "timeout"}))
        async with client.get(url + "api/v1/cycle") as response:
            assert response.content_type == "application/json"
            cycle = await response.json()
    assert cycle["cycle"] == 2
    assert cycle["devices"][0] == {
        "device": "chiller",
        "ok": True,
        "error": None,
        "duration_s": 0.01,
        "values": VALUES["chiller"],
    }
    assert cycle["devices"][1]["error"] == "timeout"
    assert cycle["devices"][1]["values"] == {}


async def test_healthz_turns_503_when_no_cycle_completes_within_two_intervals_and_a_timeout() -> (
    None
):
    settings = settings_from(CONFIG.replace("interval: 1s", "interval: 100ms\ntimeout: 50ms"))
    poller = Devices(settings)
    try:
        async with serving(settings) as (exporter, url), aiohttp.ClientSession() as client:
            for _ in range(3):  # the loop runs: cycles complete
                exporter.publish(await poller.cycle())
                async with client.get(url + "healthz") as response:
                    assert response.status == 200
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.35)  # the loop stalls past 2 x 100 ms + 50 ms
            async with client.get(url + "healthz") as response:
                assert response.status == 503
                assert "stalled" in await response.text()
            exporter.publish(await poller.cycle())  # and recovers
            async with client.get(url + "healthz") as response:
                assert response.status == 200
    finally:
        await poller.aclose()


async def test_every_scrape_sees_one_whole_cycle_under_concurrent_scrapes() -> None:
    devices = "\n".join(
        f"  - {{name: d{i}, driver: simulated, fields: [{{name: a, value: 0}}, {{name: b, value: 1}}]}}"  # noqa: E501
        for i in range(300)
    )
    settings = settings_from(f"interval: 1s\ndevices:\n{devices}\n")

    def cycle(number: int):
        values = {f"d{i}": {"a": float(number), "b": float(number)} for i in range(300)}
        return make_cycle(number, values)

    async with serving(settings) as (exporter, url):
        exporter.publish(cycle(1))
        stop = asyncio.Event()
        seen_so_far: set[int] = set()
        several_seen = asyncio.Event()

        async def publish() -> None:
            number = 1
            while not stop.is_set():
                number += 1
                exporter.publish(cycle(number))
                await asyncio.sleep(0)

        async def scrape(seed: int) -> set[int]:
            rng = random.Random(seed)
            seen: set[int] = set()
            async with aiohttp.ClientSession() as client:
                while not stop.is_set():
                    accept = rng.choice(["text/plain", PROMETHEUS_ACCEPT])
                    encoding = rng.choice(["gzip", "identity"])
                    headers = {"Accept": accept, "Accept-Encoding": encoding}
                    async with client.get(url + "metrics", headers=headers) as response:
                        body = await response.text()
                    parse = parse_openmetrics if "EOF" in body[-8:] else parse_text
                    families = {f.name: f for f in parse(body)}
                    number = families["sensorpoll_cycles"].samples[0].value
                    readings = families["lab_a"].samples + families["lab_b"].samples
                    assert len(readings) == 600
                    assert {s.value for s in readings} == {number}, "a scrape mixed two cycles"
                    seen.add(int(number))
                    seen_so_far.add(int(number))
                    if len(seen_so_far) > 5:
                        several_seen.set()
            return seen

        publisher = asyncio.create_task(publish())
        scrapers = [asyncio.create_task(scrape(i)) for i in range(6)]
        # until the scrapers have seen several cycles (a loaded machine scrapes slowly)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(several_seen.wait(), 60)
        stop.set()
        await publisher
        seen = set().union(*await asyncio.gather(*scrapers))
    assert len(seen) > 5  # cycles did change under the scrapers


async def test_status_page_lists_every_device_marks_the_down_one_and_escapes_text() -> None:
    async with serving(settings_from(CONFIG)) as (exporter, url), aiohttp.ClientSession() as client:
        exporter.publish(make_cycle(1, VALUES, {"furnace": "timeout"}))
        async with client.get(url) as response:
            assert response.content_type == "text/html"
            page = await response.text()
    assert 'data-device="chiller" data-status="up">' in page
    assert 'data-device="furnace" data-status="down">' in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert page.count("<script") == 1  # the page's own live-update script, no other
    assert "12.5 °C" in page
    assert "timeout: timeout detail" in page
    assert '<meta http-equiv="refresh"' in page
    for external in ("src=", "http://", "https://"):  # self-contained: nothing to fetch
        assert external not in page


async def test_json_api_needs_no_cycle_json_until_asked() -> None:
    # Not a performance test: the JSON must still be the latest cycle's when asked for late.
    async with serving(settings_from(CONFIG)) as (exporter, url), aiohttp.ClientSession() as client:
        for number in range(1, 4):
            exporter.publish(make_cycle(number, VALUES, {"furnace": "io"}))
        async with client.get(url + "api/v1/cycle") as response:
            assert json.loads(await response.read())["cycle"] == 3


def test_listen_option_overrides_http_listen(tmp_path) -> None:
    configured = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.replace("interval: 1s", f"interval: 1s\nhttp: {{listen: 127.0.0.1:{configured}}}")
    )
    with sensorpoll_run(config) as url:  # runs with --listen 127.0.0.1:0
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(f":{configured}/")
        with urllib.request.urlopen(url + "healthz", timeout=5) as response:
            assert response.status == 200


async def test_a_cycle_is_rendered_at_publish_when_a_scrape_is_due_before_the_next() -> None:
    # A steady scraper's next scrape finds its body ready: rendered between cycles, not by a
    # scrape that may land mid-cycle. Without a scraper nothing is rendered ahead.
    async with serving(settings_from(CONFIG)) as (exporter, url), aiohttp.ClientSession() as client:
        exporter.publish(make_cycle(1, VALUES))
        await asyncio.sleep(0)
        first = exporter._published
        assert first is not None
        assert "exposition" not in vars(first)
        for _ in range(2):  # two gzip scrapes 0.1 s apart, well within the 1 s interval
            async with client.get(url + "metrics") as response:  # aiohttp asks for gzip
                assert response.headers["Content-Encoding"] == "gzip"
            await asyncio.sleep(0.1)
        exporter.publish(make_cycle(2, VALUES))
        second = exporter._published
        assert second is not None
        assert second is not first
        assert "exposition" not in vars(second)  # not in publish itself: in the loop's next pass
        await asyncio.sleep(0)
        assert "exposition" in vars(second)
        assert second.exposition._forms.keys() == {(False, False), (False, True)}
        async with client.get(url + "metrics") as response:
            served = await response.read()
        assert served == second.exposition.body()
        assert b"\nsensorpoll_cycles_total 2\n" in served
