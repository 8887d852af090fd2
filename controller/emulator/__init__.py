"""Local Vertex AI, Cloud Monitoring and Cloud Storage emulator that the real Google clients talk to.

Imported by nothing in the core. Services are written once as plain objects (see `api.py`): methods take
the proto request and return the proto response or raise `ApiError`. Thin adapters expose them over
gRPC (`grpc_adapter.py`) and over REST for the high-level SDK (`rest.py`).
"""

from typing import Any

__all__ = ["Emulator", "running"]


def __getattr__(name: str) -> Any:
    """`controller.emulator.running` / `.Emulator`, imported on first use (the Google clients load slowly)."""
    if name in __all__:
        from controller.emulator import server

        return getattr(server, name)
    raise AttributeError(name)
