"""GrpcManifestClient: the fill agent's manifests from the control plane's GetFillManifest (gRPC)."""

from __future__ import annotations

from typing import Any

import grpc

from streamfleet.v1 import fleet_pb2, fleet_pb2_grpc

from .errors import FillError
from .fill import FillEntry, FillManifest, FillWindow


class GrpcManifestClient:
    """:class:`~appliance.fill.ManifestClient` over the control plane's GetFillManifest.

    Opens its own grpc.aio channel on first use (inside the running loop); one loop only.
    """

    def __init__(self, target: str, appliance_id: str, secret: str, timeout_s: float = 5.0) -> None:
        self._target = target
        self._appliance_id = appliance_id
        self._secret = secret
        self._timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None

    async def fetch(self, known_version: int) -> FillManifest | None:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self._target)
            self._stub = fleet_pb2_grpc.FleetStub(self._channel)
        request = fleet_pb2.FillManifestRequest(
            appliance_id=self._appliance_id, secret=self._secret, known_version=known_version
        )
        try:
            reply = await self._stub.GetFillManifest(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            name = code.name if code is not None else "?"
            raise FillError(f"GetFillManifest failed: {name}: {exc.details()}") from None
        # A reply carrying only the version we know means "unchanged".
        if reply.version == known_version:
            return None
        try:
            return manifest_from_proto(reply)
        except ValueError as exc:
            raise FillError(f"malformed fill manifest: {exc}") from None

    async def close(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()


def manifest_from_proto(message: Any) -> FillManifest:
    """A FillManifest message as the domain's manifest. Raises ValueError when malformed."""
    w = message.window
    window = FillWindow(w.start, w.end, w.tz, int(w.rate_bits_per_second), int(w.run_now_until))
    entries = tuple(FillEntry(e.title, int(e.priority), int(e.bytes)) for e in message.entries)
    return FillManifest(int(message.version), entries, window, message.origin_url)
