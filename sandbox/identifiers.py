"""The sandbox's fixed identifiers, shared by its stand-ins: the region and account its stacks live in,
and the user pool, app client and token issuer of its sign-in. A leaf: it imports nothing of the project."""

from __future__ import annotations

REGION = "us-east-1"
ACCOUNT = "123456789012"
POOL_ID = f"{REGION}_sandbox"  # the sandbox's user pool and the page's app client
CLIENT_ID = "sandbox-review"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}"
