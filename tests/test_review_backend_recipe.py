"""docs/architecture.md's "Adding a review backend" is true: the shipped backends are built that way,
nothing outside a backend's own files asks which backend a stack has, and a toy backend built by the
recipe (tests/toy_review/, registered here alone) deploys under Pulumi's mocks and reviews in the
sandbox, each of its functions cold under its deployed role."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from deployed_roles import role_policies
from lifecycle_support import deployed_with_two_reviews
from pulumi_mocks import (ACCOUNT, DASHBOARD, FUNCTION, METRIC_ALARM, REGION, function_name, role_policy,
                          run_program)
from toy_review import REGISTERED as TOY

from components.config import ConfigError, parse_stack_config
from components.deployer import CORE_ACCESS, deploy_access
from components.functions import CORE, deployed_with
from components.review_backends import deployable
from components.review_stage import ReviewStage
from handlers.review_backends import REGISTRY
from handlers.runtime import context
from handlers.runtime.state import Snapshot
from sandbox.local_aws import LocalStack
from sandbox.review_backends import sandbox_backend
from sandbox.scripted_trainer import scripted_custom_labels

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = dict(REGISTRY)  # before the toy joins
CONFIG = {"labels": ["cat", "dog"], "review": "toy", "toyGreeting": "hi"}
UNSURE = (("cat", 52.0), ("dog", 41.0))


def recipe() -> dict[str, str]:
    """The recipe's table: file -> what it holds."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n### Adding a review backend\n", 1)[1].split("\n## ", 1)[0]
    return {file: part for part, file in re.findall(r"^\| (.+?) \| `([^`]+)` \|$", section, flags=re.MULTILINE)}


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(REGISTRY, TOY.name, TOY)


# -- the recipe and the shipped backends ----------------------------------------------------------
def test_a_backend_is_its_own_files_and_one_registry_line():
    files = recipe()
    registry = "handlers/review_backends/__init__.py"
    assert registry in files and {"docs/review.md", "docs/deploying.md"} <= set(files)
    own = [f for f in files if f not in (registry, "docs/review.md", "docs/deploying.md")]
    assert own and all("<name>" in f or "<service>" in f for f in own), own
    for backend in SHIPPED.values():  # each shipped backend is where the recipe puts it
        for side in ("runtime", "deploy", "sandbox"):
            path = getattr(backend, side).replace(".", "/") + ".py"
            assert path in {f.replace("<name>", backend.name) for f in files}, (backend.name, side, path)
            assert (ROOT / path).is_file()
        declared = deployable(backend.name)
        assert declared.name == backend.name and issubclass(declared.component_class(), ReviewStage)
        assert declared.component.startswith("components.")
        # What its functions run travels in the Lambda archive (handlers/, plugins/, policies/).
        assert all(spec.handler.startswith("handlers.") for spec in declared.functions)
        assert backend.runtime.startswith("handlers.review_backends.")


def test_nothing_outside_a_backends_own_files_asks_which_backend_runs():
    names = "|".join(SHIPPED)
    asks = re.compile(rf"""(==|!=)\s*["']({names})["']|["']({names})["']\s*(==|!=)|flow_definition_arn\s+is\s+"""
                      rf"""(not\s+)?None|if\s+[\w.]*flow_definition_arn\b""")
    own = set()
    for backend in SHIPPED.values():
        declared = deployable(backend.name)
        modules = [backend.runtime, backend.deploy, backend.sandbox, declared.component.partition(":")[0],
                   *(spec.handler.rpartition(".")[0] for spec in declared.functions)]
        own |= {m.replace(".", "/") + ".py" for m in modules}
    found = []
    for package in ("components", "handlers", "sandbox", "cli"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative not in own:
                found += [f"{relative}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
                          if asks.search(line)]
    assert not found, "ask the stack's review backend instead:\n" + "\n".join(found)


# -- a toy backend, deployed ------------------------------------------------------------------------
def test_a_registered_toy_backend_deploys_under_the_mocks(toy):
    d = run_program(CONFIG, stack="toy")
    (component,) = [r for r in d.resources if r.type == "labelloop:index:ToyReview"]
    queue = d.one("aws:sqs/queue:Queue", name="labelloop-toy-toy-tasks.fifo")
    url = d.one("aws:lambda/functionUrl:FunctionUrl")
    assert queue.parent == url.parent == component.urn and queue.inputs["fifoQueue"] is True
    # Its functions, and only the core ones besides.
    assert set(deployed_with("toy")) == set(CORE) | {"toy_answer"}
    assert {f.inputs["name"] for f in d.of_type(FUNCTION)} == {function_name(k, "toy") for k in deployed_with("toy")}
    answer = d.one(FUNCTION, name=function_name("toy_answer", "toy"))
    assert answer.parent == component.urn and answer.inputs["handler"] == "toy_review.runtime.answer_handler"
    # StartReview and the serving function's drain (open) and the dataset's function (withdraws) may use the
    # toy's queue, named before it exists, and no other function may; the toy's function writes training data.
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:labelloop-toy-toy-tasks.fifo"
    using_queue = {key for key in deployed_with("toy") if queue_arn in json.dumps(role_policy(d, function_name(key, "toy")))}
    assert using_queue == {"start_review", "serve", "dataset"}
    start = role_policy(d, function_name("start_review", "toy"))["Statement"]
    assert {"Action": ["sqs:GetQueueUrl", "sqs:SendMessage"], "Resource": queue_arn} in [
        {k: s[k] for k in ("Action", "Resource")} for s in start]
    assert "s3:PutObject" in json.dumps(role_policy(d, function_name("toy_answer", "toy")))
    # Every function is told the backend and its settings.
    for function in d.of_type(FUNCTION):
        env = function.inputs["environment"]["variables"]
        assert env["LABELLOOP_REVIEW_BACKEND"] == "toy"
        assert json.loads(env["LABELLOOP_REVIEW_SETTINGS"]) == {"queue": "labelloop-toy-toy-tasks.fifo", "greeting": "hi"}
    # Its bucket needs, stack outputs, alarm and widget.
    (cors,) = d.of_type("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
    assert cors.inputs["corsRules"][0]["allowedOrigins"] == ["https://toy.example.com"]
    assert d.stack_outputs["toyAnswerUrl"] == url.outputs["functionUrl"] and d.stack_outputs["toyQueue"] == queue.outputs["name"]
    alarm = d.one(METRIC_ALARM, name="labelloop-toy-alarm-toy-backlog")
    assert (alarm.inputs["metricName"], alarm.inputs["threshold"]) == ("ToyBacklog", 10)
    titles = {w["properties"].get("title") for w in json.loads(d.one(DASHBOARD).inputs["dashboardBody"])["widgets"]}
    assert "Toy backlog" in titles and "Review tasks open" not in titles
    # Nothing of another backend; its deploy policy covers what it created, and no other backend's types.
    assert not [r for r in d.resources if r.type.startswith(("aws:sagemaker", "aws:apigatewayv2", "aws:cognito"))]
    assert not {"reviewUrl", "flowDefinitionArn"} & set(d.stack_outputs)
    granted = deploy_access("toy")
    for typ in {r.type for r in d.resources if r.custom} - set(CORE_ACCESS):
        assert all(a in granted for a in deployable("toy").resource_access.get(typ, ())) and typ in (
            *deployable("toy").resource_access, "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration"), typ
    assert not any(a.startswith(("sagemaker:", "apigateway:")) for access in granted for a in access.actions)


def test_the_toy_backends_keys_are_its_own(toy):
    with pytest.raises(ConfigError, match="labelloop:toyGreeting is ''\\. Fix: set a word"):
        parse_stack_config({**CONFIG, "toyGreeting": ""})
    with pytest.raises(ConfigError, match="labelloop:toyGreeting is only used with labelloop:review toy. Fix: set "
                                          "labelloop:review toy to keep reviewing in the toy review queue"):
        parse_stack_config({"labels": ["cat", "dog"], "toyGreeting": "hi"})
    with pytest.raises(ConfigError, match="'toy' \\(a queue the tests' reviewers answer from\\)"):
        parse_stack_config({"labels": ["cat", "dog"], "review": "toys"})


# -- a toy backend, reviewing ---------------------------------------------------------------------
def test_a_review_through_the_toy_backend_ends_in_the_shared_outcome_each_function_under_its_role(toy):
    models = scripted_custom_labels()
    with LocalStack(labels=("cat", "dog"), containers="per_invocation", standins={"rekognition": models},
                    review="toy") as stack:
        check = stack.enforce_roles(role_policies(stack, CONFIG))
        deployed_with_two_reviews(stack, models, UNSURE)
        s3 = stack.client("s3")
        s3.delete_object(Bucket=stack.bucket, Key="images_for_detection/deleted.png")  # its uploader deletes it
        stack.pump()
        truth = {f"s3://{stack.bucket}/images_for_detection/{name}.png": "dog" for name in ("kept", "deleted")}
        reviewers = sandbox_backend("toy").reviewers(stack, truth, ("cat", "dog"), (0.0,), 0, None)
        assert reviewers.answer(None) == 2  # the deleted image's message too: its answer changes nothing
        reviews = {r.image_uri.rsplit("/", 1)[1]: r for r in Snapshot.of(context.table().all_items()).reviews}
        assert reviews["kept.png"].status == "accepted" and reviews["kept.png"].result["label"] == "dog"
        assert reviews["deleted.png"].status == "deleted"
        assert reviewers.withdrawn == [reviews["deleted.png"].name]  # taken back from the toy's reviewers
        copies = s3.list_objects_v2(Bucket=stack.bucket, Prefix="images_labeled_by_folder/dog/")["Contents"]
        assert [c["Key"] for c in copies if "img-" not in c["Key"]] == [reviews["kept.png"].result["training_key"]]
        stack.deliver("toy_answer", {"task": reviews["kept.png"].name, "answers": [{"worker": "w", "label": "cat"}]})
        assert context.table().review(reviews["kept.png"].name).result["label"] == "dog"  # decided once
    assert {"start_review", "toy_answer"} <= set(check.requests)
    assert any(r.action == "sqs:SendMessage" for r in check.requests["start_review"])
    assert [str(d) for d in check.denials] == []
