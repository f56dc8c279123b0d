"""``StateTable``: the one state table, composed from one part per concern over the generic calls."""

from __future__ import annotations

from .alerts import Alerts
from .copies import Copies
from .detections import Detections
from .lifecycle import Lifecycle
from .overview import Overview
from .review_tasks import ReviewTasks
from .reviews import Reviews
from .serving import ServingLedger
from .training_data import TrainingData


class StateTable(Detections, Reviews, Copies, ReviewTasks, TrainingData, Lifecycle, ServingLedger, Alerts, Overview):
    """One state table. ``client``: a DynamoDB client; None uses the container's (``aws.client``),
    looked up on every call so a swapped session (tests, the sandbox) is seen."""
