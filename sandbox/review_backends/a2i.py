"""The ``a2i`` review backend in the sandbox: the A2I runtime stand-in (:mod:`sandbox.a2i`) starts the
human loops, and a simulated private workforce (:mod:`sandbox.workforce`) answers them by writing
A2I's output files into the bucket, where the real output function reads them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from components.naming import Naming

from ..a2i import A2I
from ..identifiers import ACCOUNT, REGION
from ..workforce import Workforce
from . import SandboxBackend

SERVICE = "sagemaker-a2i-runtime"


@dataclass
class Team:
    """The workforce, answering every open human loop (A2I has no budget of answers)."""

    workforce: Workforce
    stack: Any

    @property
    def wrong(self) -> int:
        return self.workforce.wrong

    def answer(self, budget: int | None) -> int:
        return self.workforce.answer_open_loops(self.stack.client("s3"), self.stack.bucket)


class A2IBackend(SandboxBackend):
    name = "a2i"

    def standins(self, saved: Mapping[str, Any]) -> dict[str, object]:
        return {SERVICE: A2I(loops=dict(saved.get("loops", {})))}

    def saved(self, standins: Mapping[str, object]) -> dict[str, Any]:
        return {"loops": standins[SERVICE].loops} if SERVICE in standins else {}

    def settings(self, naming: Naming) -> dict[str, Any]:
        return {"flow_definition_arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:flow-definition/{naming('review')}"}

    def reviewers(self, stack, truth, labels, error_rates, seed, mistakes) -> Team:
        return Team(Workforce(stack.standins[SERVICE], truth, labels, error_rates[0], seed), stack)


BACKEND = A2IBackend()
