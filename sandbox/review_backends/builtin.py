"""The ``builtin`` review backend in the sandbox: the review function in moto, behind stand-ins for
the sign-in (:mod:`sandbox.api_gateway`: a sandbox reviewer's token's claims); simulated reviewers
answer through the review API a person's page uses (:mod:`sandbox.reviewers`), and a person can too
(``labelloop review --sandbox DIR``, :mod:`sandbox.review_server`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.naming import REVIEWER_GROUP, Naming

from ..identifiers import CLIENT_ID, POOL_ID
from ..reviewers import ReviewTeam
from . import REVIEWER_OPTIONS, SandboxBackend

IMAGE_URL_SECONDS = 300  # how long the review app's image URLs stay valid (the stack default)
BASE_URL = "http://127.0.0.1:8080"  # where `labelloop review` serves the page


@dataclass
class Team:
    """The review team, answering the highest-priority tasks first, at most ``budget`` a round."""

    team: ReviewTeam

    @property
    def wrong(self) -> int:
        return self.team.wrong

    def answer(self, budget: int | None) -> int:
        return self.team.answer_open_tasks(budget)


class Builtin(SandboxBackend):
    name = "builtin"
    options = frozenset(REVIEWER_OPTIONS)

    def settings(self, naming: Naming, *, base_url: str = BASE_URL) -> dict[str, Any]:
        """The review function's sign-in settings, its page at ``base_url``."""
        return {"reviewer_group": REVIEWER_GROUP, "user_pool_id": POOL_ID, "user_pool_client_id": CLIENT_ID,
                "login_url": base_url, "review_url": f"{base_url}/", "image_url_seconds": IMAGE_URL_SECONDS}

    def reviewers(self, stack, truth, labels, error_rates, seed, mistakes) -> Team:
        return Team(ReviewTeam(stack, truth, labels, error_rates, seed, mistakes))


BACKEND = Builtin()
