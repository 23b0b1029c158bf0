"""The embedded reference target: a careful WebSocket manager that can be given defects."""
