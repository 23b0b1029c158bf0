"""The embedded reference target: a careful WebSocket manager that can be given defects."""

from harness.target.auth import REJECTIONS, AuthResult, Rejection, extract_token, validate_token
from harness.target.process import TargetProcess, start_target

__all__ = [
    "REJECTIONS",
    "AuthResult",
    "Rejection",
    "TargetProcess",
    "extract_token",
    "start_target",
    "validate_token",
]
