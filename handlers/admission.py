"""Admission at the model's capacity: an upload beyond what the running inference units sustain waits
instead of failing.

A Custom Labels model answers ``ProvisionedThroughputExceededException`` once the calls exceed what its
inference units sustain (AWS publishes no fixed rate per unit). Retrying within the Express run only
moves the refusal a few seconds on, so a burst longer than that would end in failed detections. Here
the refused image *parks*: it is recorded as pending, like an image that waits for a stopped model,
and the loop item notes the backlog (once: a conditional write), which wakes the serving function.
While the backlog lasts, every new upload parks at once, without calling the model, behind the
images already waiting; the serving function detects them, oldest first, at the rate the model
accepts (``handlers.drain``), and ends the backlog when none is left.
"""

from __future__ import annotations

from .runtime import aws, config, context
from .runtime.events import waiting_event
from .runtime.clock import now_iso
from .runtime.state import LoopState

# What Custom Labels answers when the calls exceed what the running inference units sustain (its
# ThrottlingException is a passing service fault: the workflow's Retry handles it).
SATURATED = frozenset({"ProvisionedThroughputExceededException"})


def waiting_reason(loop: LoopState) -> str:
    return (f"images wait for model {loop.active_version}'s capacity (since {loop.backlog_since}); it is "
            "detected in arrival order as capacity frees up")


def note_saturated(table) -> None:
    """The model refused a call for throughput: note the backlog, and the first to note it wakes the drain."""
    if table.mark_backlog(now_iso()):
        wake_serving()


def wake_serving() -> None:
    """Images wait (for a model that does not run, or for its capacity): an event asks the serving
    function now (should it not get through, the serving schedule looks within minutes)."""
    cfg = config.current()
    if not cfg.event_bus:
        return
    try:
        answer = aws.client("events").put_events(Entries=[waiting_event(cfg.stack, cfg.event_bus)])
        if answer.get("FailedEntryCount"):
            context.logger.warning("the image-waiting event was refused", extra={"entries": answer.get("Entries")})
    except Exception:  # the image is recorded as pending: the schedule looks anyway
        context.logger.exception("could not send the image-waiting event")
