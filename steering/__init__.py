"""steering room."""
