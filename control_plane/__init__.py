"""control_plane room."""
