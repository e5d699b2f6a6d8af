"""player room."""
