"""After a model is promoted, detect the images that were uploaded while no
model was running (recorded as pending, never lost)."""

from __future__ import annotations

import json

from ..runtime import aws, config, context
from ..runtime.lambda_entry import entry_point


def replay_pending() -> dict:
    cfg = config.current()
    sfn = aws.client("stepfunctions")
    pending = context.table().pending()
    for item in pending:
        sfn.start_execution(stateMachineArn=cfg.detection_state_machine_arn, input=json.dumps({
            "bucket": item["bucket"], "key": item["key"], "etag": item.get("etag"),
            "version_id": item.get("version_id"), "pending_sk": item["sk"], "reason": "replay",
        }))
    return {"replayed": len(pending)}


@entry_point
def handler(event: dict) -> dict:
    return replay_pending()
