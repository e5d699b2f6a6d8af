"""The configuration reference: comments as descriptions, examples that load, every bad key found,
and docs/configuration.md kept in step with the config dataclasses."""

from __future__ import annotations

import math
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamfleet.config import load_config
from streamfleet.configcheck import Problem, check_file
from streamfleet.configref import ROLES, available_roles, config_class, main, render_docs, render_example
from streamfleet.configschema import REQUIRED, describe, field_comments, toml_value, type_text
from streamfleet.tokens import TokenSettings

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Limits:
    """The ``[limits]`` section: how much is allowed.

    More text that is not the summary.
    """

    # Largest body accepted,
    # in bytes.
    max_body: int = 4096
    ratio: float = 0.5  # trailing comment
    #: Sphinx-style comment.
    names: tuple[str, ...] = ("a",)

    # A comment separated by a blank line documents nothing.

    plain: bool = False


@dataclass(frozen=True)
class SampleConfig:
    """A sample service config."""

    # Address to listen on.
    host: str = "127.0.0.1"
    port: int = 8080  # TCP port
    data_dir: Path = Path("data")
    labels: Mapping[str, str] = field(default_factory=lambda: {"a b": "c"})
    optional: str | None = None
    limits: Limits = field(default_factory=Limits)
    tokens: TokenSettings = field(default_factory=TokenSettings)

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")
        if self.limits.max_body < 1:
            raise ValueError("max_body must be positive")
        self.tokens.keyring()


@dataclass(frozen=True)
class ChildConfig(SampleConfig):
    # Only in the subclass.
    extra: int = 1


def test_comments_above_and_trailing_become_descriptions() -> None:
    comments = field_comments(Limits)
    assert comments["max_body"] == ("Largest body accepted,", "in bytes.")
    assert comments["ratio"] == ("trailing comment",)
    assert comments["names"] == ("Sphinx-style comment.",)
    assert "plain" not in comments
    assert field_comments(SampleConfig)["port"] == ("TCP port",)


def test_base_class_comments_are_inherited() -> None:
    comments = field_comments(ChildConfig)
    assert comments["extra"] == ("Only in the subclass.",)
    assert comments["host"] == ("Address to listen on.",)


def test_describe_gives_types_defaults_and_sections() -> None:
    ref = describe(SampleConfig)
    assert ref.summary == "A sample service config."
    by_name = {f.name: f for f in ref.fields}
    assert by_name["port"].type_text == "integer" and by_name["port"].default == 8080
    assert by_name["labels"].default == {"a b": "c"}
    assert [s.path for s in ref.sections] == [("limits",), ("tokens",)]
    limits = ref.sections[0]
    assert limits.summary == "The `[limits]` section: how much is allowed."
    assert [f.name for f in limits.keys] == ["max_body", "ratio", "names", "plain"]
    assert REQUIRED is not None and all(f.default is not REQUIRED for f in ref.fields)


@pytest.mark.parametrize(("hint", "text"), [
    (str, "string"), (int, "integer"), (float, "number"), (bool, "boolean"), (Path, "path"),
    (tuple[str, ...], "list of string"), (dict[str, int], "table of integer"),
    (Mapping[str, tuple[str, ...]], "table of list of string"), (str | None, "string (optional)"),
    (Limits, "section"),
])
def test_type_text(hint: object, text: str) -> None:
    assert type_text(hint) == text


toml_scalars = (st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
                | st.text(max_size=30))
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(min_size=1, max_size=10), toml_values, max_size=5))
def test_toml_value_round_trips_through_tomllib(data: dict[str, object]) -> None:
    from streamfleet.configcheck import _dump

    assert tomllib.loads(_dump(data)) == data


def test_toml_value_special_floats_and_paths() -> None:
    assert toml_value(math.inf) == "inf" and toml_value(-math.inf) == "-inf"
    assert tomllib.loads(f"x = {toml_value(Path('a/b'))}") == {"x": "a/b"}
    tricky = 'del\x7f quote" back\\slash\nnewline'
    assert tomllib.loads("x = " + toml_value(tricky)) == {"x": tricky}


@pytest.mark.parametrize("role", available_roles())
def test_example_of_every_role_loads_to_the_defaults(role: str, tmp_path: Path) -> None:
    path = tmp_path / f"{role}.toml"
    path.write_text(render_example(role))
    cls = config_class(role)
    assert load_config(cls, path, ROLES[role].env_prefix, environ={}) == cls()
    assert check_file(cls, path, ROLES[role].env_prefix) == []


def test_the_four_service_roles_are_known() -> None:
    assert {"origin", "control-plane", "steering", "appliance"} <= set(available_roles())
    assert ("web" in available_roles()) == (ROOT / "web" / "config.py").exists()


def _check(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return [str(p) for p in check_file(SampleConfig, path, "SAMPLE")]


def test_check_lists_every_bad_key(tmp_path: Path) -> None:
    problems = _check(tmp_path, """
porrt = 1
host = 5
data_dir = "ok"
[limits]
max_body = 0
ratio = "high"
[tokens]
active = "missing"
""")
    assert problems == [
        "porrt: unknown key (did you mean 'port'?)",
        "host: expected a string, got 5",
        "limits.ratio: expected a number, got 'high'",
        "limits.max_body: max_body must be positive",
        "tokens.active: active key id 'missing' is not in the keyring",
    ]


def test_check_names_a_bad_value_once(tmp_path: Path) -> None:
    assert _check(tmp_path, "port = 70000\n") == ["port: port 70000 is out of range"]
    assert _check(tmp_path, 'labels = { x = 1 }\n') == ["labels.x: expected a string, got 1"]


def test_check_of_a_good_file_and_of_broken_ones(tmp_path: Path) -> None:
    assert _check(tmp_path, 'host = "0.0.0.0"\n[limits]\nratio = 1\n') == []
    (bad_toml,) = _check(tmp_path, "host = \n")
    assert "c.toml" in bad_toml
    assert check_file(SampleConfig, tmp_path / "missing.toml", "SAMPLE") == [
        Problem("", f"config file {tmp_path / 'missing.toml'} does not exist")
    ]


def test_check_with_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('host = "0.0.0.0"\n')
    monkeypatch.setenv("SAMPLE_PORTT", "1")
    assert check_file(SampleConfig, path, "SAMPLE") == []
    assert check_file(SampleConfig, path, "SAMPLE", use_environment=True) == [
        Problem("SAMPLE_PORTT", "unknown key portt")
    ]


def test_cli_check_prints_problems_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "appliance.toml"
    path.write_text('id = ""\ncapacity_byte = 5\n')
    assert main(["check", str(path), "--role", "appliance"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{path}: capacity_byte: unknown key (did you mean 'capacity_bytes'?)",
                   f"{path}: id: id must not be empty"]
    path.write_text('id = "east-1"\n')
    assert main(["check", str(path), "--role", "appliance"]) == 0
    assert capsys.readouterr().out == f"{path}: ok (appliance)\n"


def test_cli_example_and_unknown_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["example", "steering"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# streamfleet steering: example") and "[tokens]" in text
    with pytest.raises(SystemExit) as exc:
        main(["example", "nope"])
    assert exc.value.code == 2


def test_docs_are_current() -> None:
    """docs/configuration.md must be what `streamfleet config docs` writes from today's dataclasses."""
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render_docs(), "docs/configuration.md is stale: run `streamfleet config docs`"


def test_cli_docs_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "configuration.md"
    assert main(["docs", "--output", str(out), "--check"]) == 1
    assert main(["docs", "--output", str(out)]) == 0
    assert main(["docs", "--output", str(out), "--check"]) == 0
    text = out.read_text()
    for role in available_roles():
        assert f"\n## {role}\n" in text
    row = "| `capacity_bytes` | integer | `10737418240` | `APPLIANCE_CAPACITY_BYTES` | Bytes of chunk"
    assert row in text
    assert "`ORIGIN_TOKENS__ACTIVE`" in text


def test_kernel_imports_no_room() -> None:
    code = ("import sys, streamfleet.cli, streamfleet.configref, streamfleet.configcheck, "
            "streamfleet.healthcheck\n"
            "rooms = {'origin', 'control_plane', 'steering', 'appliance', 'player', 'web'}\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in rooms))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
