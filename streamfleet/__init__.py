"""streamfleet shared kernel: addressing, placement, URL tokens, config, CLI and gRPC stubs."""

__version__ = "0.1.0"
