"""origin room."""
