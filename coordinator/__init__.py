"""The work coordinator: REST intake (validate, derive the threshold, publish WorkRequested) and
result delivery (consume WorkGenerated, re-check the work, POST the client's callback, ack)."""

from coordinator.app import create_app
from coordinator.settings import CoordinatorSettings

__all__ = ["CoordinatorSettings", "create_app"]
