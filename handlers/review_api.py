"""The builtin review app's function: the review page (``GET /``), the public sign-in settings
(``GET /config``) and the reviewers' JSON API under ``/api/`` behind API Gateway's JWT authorizer.

Not served yet: this entry point exists so the stack can deploy the function, its role and its
API; the real handler replaces it.
"""

from __future__ import annotations


def handler(event: dict, context: object) -> dict:
    """Serves the review API (Powertools ``APIGatewayHttpResolver``) once implemented."""
    raise NotImplementedError("the review API is served here; its handler is not implemented yet")
