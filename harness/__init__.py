"""Load-and-chaos testing harness for WebSocket services."""

__version__ = "0.1.0"
