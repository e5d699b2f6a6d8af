"""The Dockerfile: hadolint clean, and the properties an operator relies on (no engine runs here)."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    image: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.instructions if i == instruction]


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """(ARG defaults declared before the first FROM, stages) with continuation lines joined."""
    text = re.sub(r"\\\n", " ", "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    ))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        instruction, _, rest = line.strip().partition(" ")
        instruction, rest = instruction.upper(), " ".join(rest.split())
        if instruction == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), m.group(0)), rest.split()[0])
            name = rest.split()[2] if " AS " in rest.upper() else ""
            stages.append(Stage(image, name))
        elif not stages and instruction == "ARG":
            key, _, value = rest.partition("=")
            global_args[key] = value
        elif stages:
            stages[-1].instructions.append((instruction, rest))
    return global_args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE)[1]


def test_hadolint_finds_nothing(hadolint: str) -> None:
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_multi_stage_build_then_runtime(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    build, runtime = stages[0], stages[-1]
    assert build.name and runtime.name and build.name != runtime.name
    assert any("pip wheel" in a for a in build.args("RUN")), "stage 1 builds wheels"
    installs = [a for a in runtime.args("RUN") if "pip" in a and "install" in a]
    assert installs and all("--no-index" in a for a in installs), "stage 2 installs only the built wheels"
    assert any(f"from={build.name}" in a for a in installs) or any(
        f"--from={build.name}" in a for a in runtime.args("COPY")
    ), "stage 2 takes the wheels from stage 1"


def test_base_images_are_pinned_slim_python_311(stages: list[Stage]) -> None:
    for stage in stages:
        assert "latest" not in stage.image
        repo, _, tag = stage.image.partition(":")
        assert repo == "python", stage.image
        assert re.fullmatch(r"3\.11\.\d+-slim-[a-z]+", tag), f"base not pinned to a version: {stage.image}"


def test_runs_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    users = stages[-1].args("USER")
    assert users, "the runtime stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_entrypoint_is_exec_form_with_an_init(stages: list[Stage]) -> None:
    (entrypoint,) = stages[-1].args("ENTRYPOINT")
    argv = json.loads(entrypoint)  # exec form: a JSON array, so signals reach the process directly
    assert argv[0].endswith("tini") and argv[-1] == "streamfleet"
    assert any("tini" in a for a in stages[-1].args("RUN")), "tini is installed"
    for cmd in stages[-1].args("CMD"):
        json.loads(cmd)


def test_healthcheck_probes_healthz_in_exec_form(stages: list[Stage]) -> None:
    (healthcheck,) = stages[-1].args("HEALTHCHECK")
    argv = json.loads(healthcheck[healthcheck.index("CMD") + 3:])
    assert argv[:2] == ["streamfleet", "healthcheck"] and argv[-1].endswith("/healthz")


def test_volumes_hold_the_appliance_cache_and_the_origin_store(stages: list[Stage]) -> None:
    volumes = [v for arg in stages[-1].args("VOLUME") for v in json.loads(arg)]
    workdir = stages[-1].args("WORKDIR")[-1]
    # The roles' default data_dir ("data/appliance", "data/origin") resolve under WORKDIR.
    assert f"{workdir}/data/appliance" in volumes and f"{workdir}/data/origin" in volumes


def test_every_packaged_room_is_copied_into_the_build(stages: list[Stage]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied = {a.split()[0].rstrip("/") for a in stages[0].args("COPY")}
    missing = [p for p in packages if p not in copied]
    assert not missing, f"packages the wheel includes but the Dockerfile does not copy: {missing}"
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert all(f"!{p}/" in ignore for p in packages), ".dockerignore lets every package into the context"
