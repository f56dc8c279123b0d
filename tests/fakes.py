"""Stand-ins for Rekognition Custom Labels and A2I used by the runtime tests
(attached with sandbox.standins.attach, behind the real boto3 calls)."""

from __future__ import annotations

from collections import defaultdict

from sandbox.standins import ServiceFault


class FakeRekognition:
    """DetectCustomLabels answers from a table of key → labels; queued faults are raised first."""

    def __init__(self, default=(("cat", 95.0), ("dog", 5.0))):
        self.default = default
        self.by_key: dict[str, tuple] = {}
        self.faults: list[str] = []
        self.calls: list[dict] = []

    def DetectCustomLabels(self, **params):
        self.calls.append(params)
        if self.faults:
            code = self.faults.pop(0)
            raise ServiceFault(code, f"simulated {code}")
        labels = self.by_key.get(params["Image"]["S3Object"]["Name"], self.default)
        return {"CustomLabels": [{"Name": n, "Confidence": c} for n, c in labels]}


class FakeA2I:
    """StartHumanLoop with A2I's name rule: a repeated name is a ConflictException."""

    def __init__(self):
        self.loops: dict[str, dict] = {}
        self.attempts = defaultdict(int)

    def StartHumanLoop(self, HumanLoopName, FlowDefinitionArn, HumanLoopInput, **_):
        self.attempts[HumanLoopName] += 1
        if HumanLoopName in self.loops:
            raise ServiceFault("ConflictException", f"human loop {HumanLoopName} already exists", 409)
        self.loops[HumanLoopName] = {"flow": FlowDefinitionArn, "input": HumanLoopInput["InputContent"]}
        return {"HumanLoopArn": f"arn:aws:sagemaker:us-east-1:123456789012:human-loop/{HumanLoopName}"}
