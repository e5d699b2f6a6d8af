"""control_plane room: appliance registry, heartbeats and health, fleet-state stream to steering."""
