"""What every service shares that is not a rule or a message: settings loading, logging and the
HTTP conventions (JSON errors, body limits, ``/health``, ``/ready``, ``/metrics``)."""
