"""TLS and basic auth from `http.web_config` (exporter-toolkit format), and its config errors."""

from __future__ import annotations

import base64
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import bcrypt
import pytest

from sensorpoll.config import ConfigError
from sensorpoll.export.webconfig import load_web_config
from tests.conftest import require_tool
from tests.export.helpers import make_cycle, serving, settings_from

CONFIG = """
interval: 1s
http: {{web_config: {web_config}}}
devices:
  - {{name: chiller, driver: simulated, fields: [{{name: t, value: 1}}]}}
"""


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    openssl = require_tool("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=sensorpoll-test",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def web_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(text)
    (tmp_path / "config.yaml").write_text(CONFIG.format(web_config=path))
    return path


def tls_and_user(tmp_path: Path, certificate: tuple[Path, Path], rounds: int = 4) -> Path:
    cert, key = certificate
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=rounds)).decode()
    return web_config(
        tmp_path,
        f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n",
    )


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certificate[0])


async def test_scrape_without_credentials_is_401_asking_for_basic_auth(
    tmp_path, certificate
) -> None:
    tls_and_user(tmp_path, certificate)
    settings = settings_from((tmp_path / "config.yaml").read_text())
    async with serving(settings) as (exporter, url), aiohttp.ClientSession() as client:
        exporter.publish(make_cycle(1, {"chiller": {"t": 1}}))
        assert url.startswith("https://")
        async with client.get(url + "metrics", ssl=client_tls(certificate)) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize(("user", "password"), [("prometheus", "wrong"), ("mallory", "s3cret")])
async def test_scrape_with_wrong_credentials_is_401(tmp_path, certificate, user, password) -> None:
    tls_and_user(tmp_path, certificate)
    settings = settings_from((tmp_path / "config.yaml").read_text())
    auth = basic(user, password)
    async with serving(settings) as (exporter, url), aiohttp.ClientSession(headers=auth) as client:
        exporter.publish(make_cycle(1, {"chiller": {"t": 1}}))
        async with client.get(url + "metrics", ssl=client_tls(certificate)) as response:
            assert response.status == 401


async def test_scrape_with_the_right_credentials_over_tls_is_200(tmp_path, certificate) -> None:
    tls_and_user(tmp_path, certificate)
    settings = settings_from((tmp_path / "config.yaml").read_text())
    auth = basic("prometheus", "s3cret")
    async with serving(settings) as (exporter, url), aiohttp.ClientSession(headers=auth) as client:
        exporter.publish(make_cycle(1, {"chiller": {"t": 1}}))
        async with client.get(url + "metrics", ssl=client_tls(certificate)) as response:
            assert response.status == 200
            assert 'lab_t{device="chiller"} 1' in await response.text()


async def test_plain_http_is_not_served_when_tls_is_on(tmp_path, certificate) -> None:
    tls_and_user(tmp_path, certificate)
    settings = settings_from((tmp_path / "config.yaml").read_text())
    auth = basic("prometheus", "s3cret")
    async with serving(settings) as (exporter, url), aiohttp.ClientSession(headers=auth) as client:
        exporter.publish(make_cycle(1, {"chiller": {"t": 1}}))
        with pytest.raises(aiohttp.ClientError):
            async with client.get(url.replace("https://", "http://") + "metrics") as response:
                await response.read()


async def test_repeated_scrapes_do_not_pay_for_bcrypt_each_time(tmp_path, certificate) -> None:
    tls_and_user(tmp_path, certificate, rounds=12)
    settings = settings_from((tmp_path / "config.yaml").read_text())
    hashed = load_web_config(tmp_path / "web.yml").users["prometheus"].encode()
    start = time.perf_counter()
    assert bcrypt.checkpw(b"s3cret", hashed)
    one_bcrypt = time.perf_counter() - start
    auth = basic("prometheus", "s3cret")
    async with serving(settings) as (exporter, url), aiohttp.ClientSession(headers=auth) as client:
        exporter.publish(make_cycle(1, {"chiller": {"t": 1}}))
        tls = client_tls(certificate)
        async with client.get(url + "metrics", ssl=tls) as response:  # pays once
            assert response.status == 200
        start = time.perf_counter()
        for _ in range(10):
            async with client.get(url + "metrics", ssl=tls) as response:
                assert response.status == 200
        ten_scrapes = time.perf_counter() - start
    assert ten_scrapes < one_bcrypt


async def test_basic_auth_works_without_tls(tmp_path) -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    web_config(tmp_path, f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    settings = settings_from((tmp_path / "config.yaml").read_text())
    async with serving(settings) as (exporter, url), aiohttp.ClientSession() as client:
        exporter.publish(make_cycle(1, {"chiller": {"t": 1}}))
        async with client.get(url + "metrics") as response:
            assert response.status == 401
        async with client.get(url + "metrics", headers=basic("prometheus", "s3cret")) as response:
            assert response.status == 200


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_web_config(path)
    return [str(problem) for problem in caught.value.problems]


def test_a_hash_that_is_not_bcrypt_is_a_config_error_with_file_line_and_key(tmp_path) -> None:
    path = web_config(tmp_path, "basic_auth_users:\n  alice: plaintext\n")
    assert problems_of(path) == [
        f"{path}:2: basic_auth_users.alice: not a bcrypt hash (expected $2y$, $2b$ or $2a$, "
        "cost, 53 characters)"
    ]


def test_unknown_keys_in_the_web_config_are_errors(tmp_path, certificate) -> None:
    path = web_config(
        tmp_path, "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  cert_fiel: x\n"
    )
    assert problems_of(path) == [f"{path}:4: tls_server_config.cert_fiel: unknown key"]


def test_a_missing_certificate_is_a_config_error(tmp_path) -> None:
    path = web_config(tmp_path, "tls_server_config:\n  cert_file: nope.pem\n  key_file: k.pem\n")
    assert problems_of(path) == [
        f"{path}:2: tls_server_config.cert_file: cannot read {tmp_path}/nope.pem: no such file"
    ]


def test_run_exits_78_naming_the_problem_when_the_web_config_is_unreadable(tmp_path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(web_config=tmp_path / "missing.yml"))
    result = subprocess.run(
        [sys.executable, "-m", "sensorpoll", "run", "-c", str(config), "--listen", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 78
    assert f"{tmp_path}/missing.yml: cannot read web config: no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_validates_the_web_config_too(tmp_path) -> None:
    web_config(tmp_path, "basic_auth_users:\n  alice: plaintext\n")
    result = subprocess.run(
        [sys.executable, "-m", "sensorpoll", "check", "-c", str(tmp_path / "config.yaml")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 78
    assert f"{tmp_path}/web.yml:2: basic_auth_users.alice: not a bcrypt hash" in result.stderr
