"""The committed gRPC stubs must equal what `make proto` generates from proto/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ["fleet_pb2.py", "fleet_pb2.pyi", "fleet_pb2_grpc.py"]


def test_stubs_are_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}", f"--python_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", f"--pyi_out={tmp_path}",
         str(ROOT / "proto/streamfleet/v1/fleet.proto")],
        check=True,
    )
    for name in GENERATED:
        fresh = (tmp_path / "streamfleet/v1" / name).read_text()
        committed = (ROOT / "streamfleet/v1" / name).read_text()
        assert fresh == committed, f"streamfleet/v1/{name} is stale: run `make proto`"
