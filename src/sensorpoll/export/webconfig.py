"""`http.web_config`: TLS and basic auth in the Prometheus exporter-toolkit web-config format.

Read and checked at start (and on reload); a problem is a ConfigError naming the web config's
own file, line and key, like any other config error.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError

from sensorpoll.config.errors import ConfigError, ConfigProblem
from sensorpoll.config.loader import read_config_text, read_yaml
from sensorpoll.config.problems import Problems
from sensorpoll.config.schema import Model

# What the exporter toolkit accepts: bcrypt's $2a$, $2b$ and $2y$ variants.
_BCRYPT = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")

TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
# The toolkit's client_auth_types that verify against a CA: Python's ssl has no "require a
# certificate but do not verify it", so RequestClientCert and RequireAnyClientCert are refused.
ClientAuth = Literal["NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"]
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def _bcrypt_hash(value: str) -> str:
    if not _BCRYPT.match(value):
        raise ValueError("not a bcrypt hash (expected $2y$, $2b$ or $2a$, cost, 53 characters)")
    return value


BcryptHash = Annotated[str, AfterValidator(_bcrypt_hash)]


class TlsServerConfig(Model):
    cert_file: Path
    key_file: Path
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: TlsVersion = "TLS12"
    max_version: TlsVersion | None = None


class WebConfig(Model):
    """The web-config file. Unknown keys are errors, as in the rest of the config."""

    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[str, BcryptHash] = Field(default_factory=dict)


class LoadedWebConfig:
    """A checked web config: its TLS context (None: plain HTTP) and its users' hashes."""

    def __init__(self, path: Path, config: WebConfig, ssl_context: ssl.SSLContext | None) -> None:
        self.path = path
        self.config = config
        self.ssl_context = ssl_context

    @property
    def users(self) -> dict[str, str]:
        return dict(self.config.basic_auth_users)


def load_web_config(path: Path) -> LoadedWebConfig:
    """Read, validate and apply (load the certificate) the web config at `path`."""
    file = str(path)
    try:
        text = read_config_text(path)
    except ConfigError as exc:
        reason = exc.problems[0].message
        raise ConfigError(
            [ConfigProblem(file, None, "", f"cannot read web config: {reason}")]
        ) from None
    data, lines = read_yaml(text, file, {}, lines=True)  # a small file: always keep lines
    problems = Problems(file, data)
    try:
        config = WebConfig.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems.add_validation((), exc.errors(include_url=False))
        raise problems.error(lines) from None
    tls = config.tls_server_config
    context = None
    if tls is not None:
        try:
            context = _ssl_context(tls, path.parent)
        except _TlsProblem as exc:
            problems.add(("tls_server_config", exc.key), exc.message)
            raise problems.error(lines) from None
    return LoadedWebConfig(path, config, context)


class _TlsProblem(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key, self.message = key, message


def _ssl_context(tls: TlsServerConfig, base: Path) -> ssl.SSLContext:
    """The server context; relative paths are relative to the web config's directory, as the
    exporter toolkit has them."""
    cert, key = base / tls.cert_file, base / tls.key_file
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = _TLS_VERSIONS[tls.min_version]
    if tls.max_version is not None:
        context.maximum_version = _TLS_VERSIONS[tls.max_version]
    for name, file in (("cert_file", cert), ("key_file", key)):
        if not file.is_file():
            raise _TlsProblem(name, f"cannot read {file}: no such file")
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise _TlsProblem("cert_file", f"cannot load {cert} with {key}: {_reason(exc)}") from None
    if tls.client_auth_type != "NoClientCert":
        if tls.client_ca_file is None:
            raise _TlsProblem("client_auth_type", f"{tls.client_auth_type} needs client_ca_file")
        try:
            context.load_verify_locations(base / tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise _TlsProblem("client_ca_file", _reason(exc)) from None
        required = tls.client_auth_type == "RequireAndVerifyClientCert"
        context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    return context


def _reason(exc: Any) -> str:
    return str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc)
