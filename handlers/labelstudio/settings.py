"""What a function knows about the stack's Label Studio, and the secrets it reads at run time.

The stack config reaches the functions as the backend's settings (``RuntimeConfig.review_settings``,
``components/review_backends/labelstudio.py``): the instance's URL, the project's title, where its
API token lives — an SSM SecureString parameter (``ssm:/name``) or a Secrets Manager secret
(``secretsmanager:<name or ARN>``), read here and never put in the environment, the stack's outputs
or its state — the SSM parameters holding the stack's signing key and its Label Studio routes' URL
(the HTTP API's, known only once it exists), and whether the model's guesses are shown as predictions.

From the signing key come the webhook's shared secret (the header Label Studio sends) and the images'
signatures: a rotated API token changes neither, and a new signing key (delete the parameter and
deploy) changes both — the next reconcile registers the new secret with Label Studio.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import cache

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

from ..runtime import aws, config
from ..runtime.config import MissingConfiguration
from .client import LabelStudio

SECRET_HEADER = "X-Labelloop-Secret"
SECRET_SECONDS = 300  # a rotated token or key is read again within five minutes
WEBHOOK_PATH = "/labelstudio/webhook"
IMAGE_PATH = "/labelstudio/images/"


@dataclass(frozen=True)
class Settings:
    url: str  # the Label Studio instance, e.g. https://labelstudio.example.com
    project: str  # the project's title: found, or created with the stack's labels
    token: str  # where the API token lives: ssm:/name or secretsmanager:<name or ARN>
    signing_key: str  # the SSM SecureString parameter holding the stack's signing key
    routes: str  # the SSM parameter holding the URL of the stack's routes (webhook, images)
    predictions: bool = False  # show the model's best guess as a prediction (biases reviewers: off)


@cache
def current() -> Settings:
    given = config.current().review_settings
    missing = [f for f in ("url", "project", "token", "signing_key", "routes") if not given.get(f)]
    if missing:
        raise MissingConfiguration(f"the Label Studio settings ({', '.join(missing)}) are not set on this function; "
                                   "deploy it with the labelloop Pulumi program (review: labelstudio)")
    return Settings(**{f: given[f] for f in Settings.__dataclass_fields__ if f in given})


def read_token(location: str) -> str:
    """The API token at ``location`` (``ssm:/name`` or ``secretsmanager:<id>``), decrypted, cached a while."""
    kind, _, name = location.partition(":")
    if kind == "ssm":
        value = SSMProvider(boto3_client=aws.client("ssm")).get(name, decrypt=True, max_age=SECRET_SECONDS)
    elif kind == "secretsmanager":
        value = SecretsProvider(boto3_client=aws.client("secretsmanager")).get(name, max_age=SECRET_SECONDS)
    else:
        raise MissingConfiguration(f"the Label Studio token location {location!r} is neither ssm:/<name> nor "
                                   "secretsmanager:<name or ARN>")
    if not isinstance(value, str) or not value.strip():
        raise MissingConfiguration(f"the Label Studio token at {location} is empty")
    return value.strip()


def _parameter(name: str, decrypt: bool = False) -> str:
    return str(SSMProvider(boto3_client=aws.client("ssm")).get(name, decrypt=decrypt, max_age=SECRET_SECONDS))


def _signing_key() -> bytes:
    return _parameter(current().signing_key, decrypt=True).encode()


def api_url() -> str:
    """The base URL of the stack's Label Studio routes."""
    return _parameter(current().routes).rstrip("/")


def webhook_url() -> str:
    return f"{api_url()}{WEBHOOK_PATH}"


def webhook_secret() -> str:
    """The value of the header Label Studio's webhook must carry."""
    return hmac.new(_signing_key(), b"labelloop labelstudio webhook", hashlib.sha256).hexdigest()


def image_signature(review: str) -> str:
    """The signature of a review's image link: it opens that image and no other."""
    return hmac.new(_signing_key(), f"labelloop labelstudio image {review}".encode(), hashlib.sha256).hexdigest()[:32]


def image_url(review: str) -> str:
    return f"{api_url()}{IMAGE_PATH}{review}?sig={image_signature(review)}"


_clients: dict[tuple[str, str], LabelStudio] = {}


def client() -> LabelStudio:
    """The client of the stack's Label Studio, with the token read now (a rotated token gets a new client)."""
    settings = current()
    token = read_token(settings.token)
    key = (settings.url, token)
    if key not in _clients:
        _clients.clear()
        _clients[key] = LabelStudio(settings.url, token)
    return _clients[key]


def reset() -> None:
    current.cache_clear()
    _clients.clear()
