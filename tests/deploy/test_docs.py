"""The guides in docs/ link to files that exist and name only commands the CLI accepts."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .conftest import ROOT

GUIDES = ["architecture.md", "isp-appliance.md", "origin-operator.md"]


def _commands() -> list[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for page in GUIDES:
        text = (ROOT / "docs" / page).read_text()
        # Code only (fenced blocks and `spans`): prose says "streamfleet" too.
        code = re.findall(r"```.*?```|`[^`\n]+`", text, re.DOTALL)
        for match in re.finditer(r"\bstreamfleet((?: [a-z][a-z-]*){1,2})", "\n".join(code)):
            found.add(tuple(match.group(1).split()))
    return sorted(found)


@pytest.mark.parametrize("words", _commands(), ids=" ".join)
def test_every_command_in_the_guides_exists(words: tuple[str, ...]) -> None:
    done = subprocess.run([sys.executable, "-m", "streamfleet.cli", *words, "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"streamfleet {' '.join(words)}: {done.stderr.strip()[-300:]}"


@pytest.mark.parametrize("page", [*GUIDES, "../README.md"])
def test_relative_links_resolve(page: str) -> None:
    path = ROOT / "docs" / page
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text()):
        assert (path.parent / target).exists(), f"{page} links to missing {target}"
