"""Apply an operator parameter change (SSM → EventBridge "Parameter Store Change").

The schedule parameters drive the training schedule rule: the toggle enables
or disables it, the frequency changes its rate without touching its state (so
a frequency change never re-enables a disabled schedule). Every change is
recorded and notified; an invalid value changes nothing and is reported.
"""

from __future__ import annotations

from plugins import InvalidParameterValue
from policies.names import ENABLE_TRAINING, POLL_FREQUENCY

from .runtime import aws, config, context
from .runtime.events import ParameterStoreChangeEvent, UnrecognisedEvent
from .runtime.lambda_entry import entry_point


def rate_expression(minutes: int) -> str:
    return f"rate({minutes} minute{'' if minutes == 1 else 's'})"


def apply_change(name: str, operation: str) -> dict:
    cfg = config.current()
    short = name[len(cfg.parameter_path):] if name.startswith(cfg.parameter_path) else name
    catalog = context.engine().catalog
    if short not in catalog:
        return {"parameter": short, "applied": False, "reason": "not a labelloop parameter"}
    spec = catalog[short]
    raw = None
    if operation != "Delete":
        raw = aws.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    try:
        value = spec.parse(raw) if raw is not None else spec.default
    except InvalidParameterValue as exc:
        if context.table().first_alert(short, raw, str(exc)):
            context.announce("parameter_invalid", f"Parameter {short} was set to an invalid value; nothing changed",
                             {"parameter": short, "value": raw, "allowed": exc.allowed}, notify=True,
                             footer=f"Fix: labelloop params set {short} <value>")
        return {"parameter": short, "applied": False, "reason": str(exc)}
    detail = {"parameter": short, "operation": operation, "value": spec.format(value)}
    if short in (ENABLE_TRAINING, POLL_FREQUENCY) and cfg.schedule_rule:
        detail["schedule"] = apply_schedule(cfg.schedule_rule, short, value)
    context.table().record_parameter_change(short, operation, detail["value"], detail.get("schedule"))
    context.parameters().provider.clear_cache()  # this container reads the new value at once
    context.announce("parameter_changed", f"Parameter {short} is now {spec.format(value)}", detail, notify=True)
    return detail | {"applied": True}


def apply_schedule(rule: str, name: str, value) -> str:
    events = aws.client("events")
    current = events.describe_rule(Name=rule)
    if name == ENABLE_TRAINING:
        (events.enable_rule if value else events.disable_rule)(Name=rule)
        return f"{'enabled' if value else 'disabled'} ({current.get('ScheduleExpression')})"
    # put_rule resets whatever it is not given: keep the state and description as they are.
    expression = rate_expression(int(value))
    events.put_rule(Name=rule, ScheduleExpression=expression, State=current["State"],
                    Description=current.get("Description", "labelloop training check"))
    return f"{expression}, {current['State'].lower()}"


@entry_point
def handler(event: dict) -> dict:
    if not isinstance(event, dict):
        raise UnrecognisedEvent(f"the event is a {type(event).__name__}, not a Parameter Store Change event")
    change = ParameterStoreChangeEvent(event).detail
    return apply_change(change.name, change.operation)
