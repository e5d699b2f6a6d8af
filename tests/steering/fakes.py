"""Fleet views and stand-ins shared by the steering tests."""

from __future__ import annotations

from steering.fleet import Appliance, FleetView, Health, Location

TB = 10**12


def appliance(
    ident: str,
    site: str,
    *,
    health: Health = Health.HEALTHY,
    capacity: int = TB,
    prefixes: tuple[str, ...] = (),
    location: Location | None = None,
    titles: tuple[str, ...] = (),
    connections: int = 0,
) -> Appliance:
    port = 9000 + sum(ident.encode()) % 900
    return Appliance(
        ident,
        site,
        f"http://127.0.0.1:{port}/",
        health,
        capacity,
        prefixes,
        frozenset(titles),
        location,
        connections=connections,
    )


def two_sites(version: int = 7) -> FleetView:
    """east: 3 healthy + 1 degraded + 1 down; west: 2 healthy + 1 draining; north: 1 healthy."""
    return FleetView(
        version,
        [
            appliance("east-1", "east", prefixes=("10.1.0.0/16", "2001:db8:e::/48")),
            appliance("east-2", "east", prefixes=("10.1.0.0/16",)),
            appliance("east-3", "east", capacity=2 * TB),
            appliance("east-4", "east", health=Health.DEGRADED),
            appliance("east-5", "east", health=Health.DOWN),
            appliance("west-1", "west", prefixes=("10.2.0.0/16", "127.0.0.0/8")),
            appliance("west-2", "west"),
            appliance("west-3", "west", health=Health.DRAINING),
            appliance("north-1", "north", prefixes=("10.0.0.0/8",)),
        ],
    )
