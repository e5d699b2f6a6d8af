"""ApplianceConfig: defaults that run on loopback, TOML + APPLIANCE_* overlay, named failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import GIB, ApplianceConfig, load
from streamfleet.config import ConfigError


def test_defaults_work_on_loopback() -> None:
    config = load(None, environ={})
    assert config == ApplianceConfig()
    assert config.http_url == "http://127.0.0.1:8081"
    assert config.capacity_bytes == 10 * GIB and config.data_dir == Path("data/appliance")
    assert config.tokens.keyring().active == "dev"


def test_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "appliance.toml"
    path.write_text(
        'id = "east-1"\nsite = "east"\nport = 9001\nclient_prefixes = ["10.0.0.0/8"]\n'
        'public_url = "http://cache.example/"\n'
        '[tokens]\nactive = "k2"\nkeys = { k2 = "0123456789abcdef0123" }\n'
    )
    config = load(
        path, environ={"APPLIANCE_PORT": "9002", "APPLIANCE_CLIENT_PREFIXES": "10.0.0.0/8,fd00::/8"}
    )
    assert (config.id, config.site, config.port) == ("east-1", "east", 9002)
    assert config.client_prefixes == ("10.0.0.0/8", "fd00::/8")
    assert config.http_url == "http://cache.example"
    assert config.tokens.active == "k2"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"APPLIANCE_PORT": "eighty"}, "port"),
        ({"APPLIANCE_CAPACITY_BYTES": "0"}, "capacity_bytes"),
        ({"APPLIANCE_CLIENT_PREFIXES": "not-a-cidr"}, "client_prefixes"),
        ({"APPLIANCE_NO_SUCH_KEY": "1"}, "no_such_key"),
        ({"APPLIANCE_TOKENS__ACTIVE": "missing"}, "active"),
    ],
)
def test_bad_values_fail_naming_the_key(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load(None, environ=environ)
