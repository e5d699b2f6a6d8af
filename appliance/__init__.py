"""appliance room."""
