"""streamfleet web: the viewer, creator and operator pages and the server that hosts them."""
