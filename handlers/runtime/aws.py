"""AWS clients, one per service per container, created on first use.

Tests and the sandbox swap the session (``use_session``) to attach moto or
local stand-ins; handlers only ever call ``client(name)``.
"""

from __future__ import annotations

import threading

import boto3
from botocore.config import Config

_lock = threading.Lock()
_session: boto3.Session | None = None
_clients: dict[str, object] = {}
_config_override: Config | None = None
# The one retry layer inside a call (see errors.py: who retries what): botocore's standard mode,
# exponential backoff with full jitter and a retry quota, at most CALL_ATTEMPTS requests per call
# (``total_max_attempts`` counts the first request; botocore's ``max_attempts`` would count retries only).
CALL_ATTEMPTS = 3
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": CALL_ATTEMPTS}, user_agent_extra="labelloop")
# Presigned S3 URLs (the review app's images) signed with SigV4, whose expiry is relative and bounded.
SERVICE_CONFIG = {"s3": Config(signature_version="s3v4")}


def use_session(session: boto3.Session | None, config: Config | None = None) -> None:
    """Make every later ``client()`` come from ``session`` (None: the default session),
    optionally with another client config (the sandbox leaves retries to the state machines)."""
    global _session, _config_override
    with _lock:
        _session, _config_override = session, config
        _clients.clear()


def client(service: str):
    with _lock:
        if service not in _clients:
            session = _session or boto3.Session()
            config = _config_override or CLIENT_CONFIG
            if service in SERVICE_CONFIG:
                config = config.merge(SERVICE_CONFIG[service])
            _clients[service] = session.client(service, config=config)
        return _clients[service]


def error_code(exc: Exception) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    return (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None


NOT_FOUND = ("404", "NoSuchKey", "NotFound")


def key_exists(bucket: str, key: str) -> bool:
    """Whether ``key`` has a current object: False once its uploader deleted it (a delete marker, or
    no version left). Needs ``s3:ListBucket`` on the key's prefix, without which S3 answers 403."""
    from botocore.exceptions import ClientError

    try:
        client("s3").head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return False
        raise
