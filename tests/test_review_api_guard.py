"""The reviewers' API answers the stack's reviewers only, through one Powertools middleware of the
review app (no route of it can do without the check), and the Lambda context reaches the resolver
and any entry point body that takes it."""

from __future__ import annotations

import types

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from components.review_app import PUBLIC_ROUTES, REVIEWER_ROUTES
from handlers import review_api
from handlers.runtime import config
from handlers.runtime.config import RuntimeConfig
from handlers.runtime.lambda_entry import entry_point
from sandbox.api_gateway import http_api_event, reviewer_claims
from sandbox.identifiers import CLIENT_ID, POOL_ID

TASK = "labelloop-" + "0" * 40
CONFIG = RuntimeConfig(table="labelloop-test-state", bucket="labelloop-test-data", parameter_path="/labelloop/test/",
                       labels=("cat", "dog"), reviewer_group="reviewers", user_pool_id=POOL_ID,
                       user_pool_client_id=CLIENT_ID, login_url="https://login.example.com",
                       review_url="https://review.example.com/")


def lambda_context():
    return types.SimpleNamespace(function_name="labelloop-test-review-api", function_version="$LATEST",
                                 invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:x",
                                 memory_limit_in_mb=256, aws_request_id="request-1",
                                 get_remaining_time_in_millis=lambda: 20_000)


def outsider() -> dict:
    return {**reviewer_claims("mallory", "access", 0, 2**31), "cognito:groups": ["admins"]}


@pytest.fixture
def stack(monkeypatch):
    monkeypatch.setattr(config, "current", lambda: CONFIG)

    def untouchable():
        raise AssertionError("the state table was read for a request the API refuses")

    monkeypatch.setattr(review_api.context, "table", untouchable)


@pytest.mark.parametrize("route", REVIEWER_ROUTES)
def test_every_route_of_the_reviewers_api_refuses_a_non_reviewer_before_reading_anything(stack, route):
    method, path = route.split(" ")
    response = review_api.handler(http_api_event(method, path.replace("{id}", TASK), claims=outsider(),
                                                 body="{}" if method == "POST" else None), lambda_context())
    assert response["statusCode"] == 403 and "reviewers" in response["body"]


@pytest.mark.parametrize("route", PUBLIC_ROUTES)
def test_the_page_and_its_sign_in_settings_need_no_token(stack, route):
    method, path = route.split(" ")
    assert review_api.handler(http_api_event(method, path), lambda_context())["statusCode"] == 200


def test_the_middleware_guards_any_api_route_and_hands_it_the_reviewer(stack):
    app, seen = APIGatewayHttpResolver(), []
    app.use(middlewares=[review_api.reviewers_only])

    @app.get("/api/new")  # a route added later: guarded without a line of its own
    def new() -> dict:
        seen.append(app.context["reviewer"])
        return {}

    refused = app.resolve(http_api_event("GET", "/api/new", claims=outsider()), lambda_context())
    assert refused["statusCode"] == 403 and seen == []
    claims = reviewer_claims("ana", "access", 0, 2**31)
    assert app.resolve(http_api_event("GET", "/api/new", claims=claims), lambda_context())["statusCode"] == 200
    assert seen == [claims["sub"]]


def test_the_lambda_context_reaches_the_resolver_and_a_body_that_takes_it(stack):
    context, seen = lambda_context(), []
    assert review_api.handler(http_api_event("GET", "/config"), context)["statusCode"] == 200
    assert review_api.app.lambda_context is context

    @entry_point
    def with_context(event: dict, lambda_context) -> str:
        seen.append(lambda_context)
        return event["x"]

    @entry_point
    def without(event: dict) -> str:
        return event["x"]

    assert (with_context({"x": "a"}, context), without({"x": "b"}, context)) == ("a", "b")
    assert seen == [context]
