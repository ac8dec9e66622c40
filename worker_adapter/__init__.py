"""The worker adapter: WorkRequested from the queue -> the worker server -> WorkGenerated to the queue."""

from worker_adapter.adapter import Adapter
from worker_adapter.app import create_app
from worker_adapter.settings import AdapterSettings
from worker_adapter.worker_client import WorkerClient, WorkerFailed

__all__ = ["Adapter", "AdapterSettings", "WorkerClient", "WorkerFailed", "create_app"]
