"""Configuration (pure): scenario dataclasses, strict loading, gate metrics, fault schemas."""
