"""Amazon A2I (``sagemaker-a2i-runtime``), in process, behind the same boto3 calls.

``StartHumanLoop`` keeps the loop as A2I would: a repeated name is a
``ConflictException`` (so a name derived from the image makes the start
idempotent). Nobody answers here: tests write A2I's output themselves, the
sandbox's simulated workforce (:mod:`sandbox.workforce`) answers the open loops.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .standins import ServiceFault


@dataclass
class HumanLoop:
    name: str
    flow_definition_arn: str
    input: dict  # HumanLoopInput.InputContent, parsed
    status: str = "InProgress"
    answer: str | None = None

    @property
    def arn(self) -> str:
        account = self.flow_definition_arn.split(":flow-definition/", 1)[0]
        return f"{account}:human-loop/{self.name}"


@dataclass
class A2I:
    loops: dict[str, HumanLoop] = field(default_factory=dict)
    attempts: Counter = field(default_factory=Counter)  # StartHumanLoop calls per loop name

    def StartHumanLoop(self, HumanLoopName, FlowDefinitionArn, HumanLoopInput, **_):
        self.attempts[HumanLoopName] += 1
        if HumanLoopName in self.loops:
            raise ServiceFault("ConflictException", f"a human loop named {HumanLoopName} already exists", 409)
        loop = self.loops[HumanLoopName] = HumanLoop(HumanLoopName, FlowDefinitionArn,
                                                     json.loads(HumanLoopInput["InputContent"]))
        return {"HumanLoopArn": loop.arn}

    def DescribeHumanLoop(self, HumanLoopName, **_):
        loop = self.loops.get(HumanLoopName)
        if loop is None:
            raise ServiceFault("ResourceNotFoundException", f"no human loop {HumanLoopName}", 404)
        return {"HumanLoopName": loop.name, "HumanLoopStatus": loop.status, "HumanLoopArn": loop.arn,
                "FlowDefinitionArn": loop.flow_definition_arn, "CreationTime": datetime.now(timezone.utc)}

    @property
    def open(self) -> list[HumanLoop]:
        return [loop for loop in self.loops.values() if loop.status == "InProgress"]
