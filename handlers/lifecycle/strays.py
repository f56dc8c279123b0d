"""No model runs that should not: the first step of every lifecycle run stops
any version of the project that is STARTING or RUNNING but is not the active
model — a candidate or a previous model a cleanup could not stop, or one started
by hand. A running model bills per inference-unit hour, idle or not.

What runs is read from Rekognition (DescribeProjectVersions), not from the
table. While a run holds the training lock, the models it starts and switches
are its own and nothing is touched. A run whose cleanup could not stop a model
keeps its lock, naming the model (``LoopState.strays``): once the model is
stopped here, the lock is free again.
"""

from __future__ import annotations

from ..runtime import aws, config, context
from ..runtime.lambda_entry import entry_point
from ..runtime.workflow import RunState
from .check import lock_is_stale, stale_before
from .deploy import LIVE, STOP_FAILED, stop_model, version_name


def running_versions(statuses: tuple[str, ...] = LIVE) -> dict[str, str]:
    """Every version of the project that is starting or running (or in ``statuses``): version -> ARN
    (all pages)."""
    rekognition, kwargs = aws.client("rekognition"), {"ProjectArn": config.current().project_arn, "MaxResults": 100}
    running = {}
    while True:
        page = rekognition.describe_project_versions(**kwargs)  # a page retried on its own by the client
        running |= {version_name(d["ProjectVersionArn"]): d["ProjectVersionArn"]
                    for d in page.get("ProjectVersionDescriptions", []) if d.get("Status") in statuses}
        if not page.get("NextToken"):
            return running
        kwargs["NextToken"] = page["NextToken"]


def stop_strays(lock_seconds: int | None = None) -> dict:
    table = context.table()
    loop = table.loop()
    if loop.training_owner and not loop.strays and not lock_is_stale(loop, stale_before(lock_seconds)):
        return {"checked": False, "reason": f"a run holds the training lock ({loop.training_owner}): "
                                            "the models it starts are its own"}
    if not loop.versions and not loop.active_arn:
        return {"checked": False, "reason": "no model version was ever trained or deployed"}
    strays = {v: arn for v, arn in running_versions().items() if arn != loop.active_arn}
    stopped, failed = [], {}
    for version, arn in sorted(strays.items()):
        try:
            stop_model(version, arn)
            stopped.append(version)
        except Exception as exc:  # each stray on its own: one that cannot be stopped does not keep the others running
            failed[version] = f"{type(exc).__name__}: {exc}"
    released = bool(loop.strays) and not failed and table.release_training_lock(loop.training_owner)
    context.metrics.add_metric(name="StrayModels", unit="Count", value=len(strays))
    context.metrics.add_metric(name=STOP_FAILED, unit="Count", value=len(failed))
    if strays:
        summary = (f"Stopped {len(stopped)} model(s) that ran without being the active one"
                   + (f"; {len(failed)} still running" if failed else ""))
        context.announce("error", summary, {
            "stopped": ", ".join(stopped) or "-", "still running": "; ".join(f"{v} ({e})" for v, e in failed.items())
            or "-", "active model": loop.active_version or "none",
            "training lock": "freed" if released else (loop.training_owner or "free")}, notify=True,
            footer="A model that is not the active one bills per inference-unit hour, idle or not; "
                   "the next lifecycle run tries again." if failed else "")
    return {"checked": True, "strays": sorted(strays), "stopped": stopped, "still_running": sorted(failed),
            "lock_released": released}


@entry_point
def handler(event: dict) -> dict:
    return stop_strays(RunState.from_event(event).lock_seconds)
