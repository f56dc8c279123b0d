"""Running the Pulumi program offline: a mock engine and provider, and snapshots of
what a program run registered.

Importing this module points the Pulumi runtime at the mocks (tests of other
parts never import it, so they are unaffected). The mocks

* fill the attributes the provider computes (``arn``, ``id``, names, URLs…) the
  way AWS forms them — with ``preview=False`` a missing one would silently be
  ``None`` — and echo the inputs;
* render ``aws.iam.get_policy_document`` to the JSON IAM would get, so tests
  read real policy documents;
* record each resource's URN, parent, inputs and outputs, aliases, and the outputs
  each component registers;
* keep the providers apart from the resources (a provider is no AWS resource), and
  compute a taggable resource's ``tagsAll`` from its provider's default tags and its
  own, as the AWS provider does.

:func:`run_program` runs ``__main__.py`` with a stack config and returns a
:class:`Deployment` snapshot, cached per (stack, config) so each worker runs a
given stack once.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import runpy
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"
PROJECT = "labelloop"
ACCOUNT, REGION, PARTITION = "123456789012", "eu-west-1", "aws"
PROJECT_CREATED = "1767225600000"  # Rekognition puts the creation time in a project's ARN


def arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def _hash(text: str, n: int = 7) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]


def _g(args: Mapping[str, Any], camel: str) -> Any:
    """Invoke arguments arrive camelCase from Args classes, as typed from dicts."""
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return args.get(camel, args.get(snake))


def _one_or_list(values: list) -> Any:
    values = sorted(set(values))
    return values[0] if len(values) == 1 else values


def render_policy_document(args: Mapping[str, Any]) -> dict[str, Any]:
    """What the ``aws_iam_policy_document`` data source returns for these arguments."""
    statements = []
    for s in args.get("statements") or []:
        st: dict[str, Any] = {}
        if s.get("sid"):
            st["Sid"] = s["sid"]
        st["Effect"] = s.get("effect") or "Allow"
        for src, dst in (("actions", "Action"), ("notActions", "NotAction"), ("resources", "Resource"),
                         ("notResources", "NotResource")):
            if _g(s, src):
                st[dst] = _one_or_list(_g(s, src))
        for src, dst in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            if _g(s, src):
                principal: Any = {}
                for p in _g(s, src):
                    if p["type"] == "*" and p["identifiers"] == ["*"]:
                        principal = "*"
                        break
                    principal.setdefault(p["type"], []).extend(p["identifiers"])
                st[dst] = principal if principal == "*" else {k: _one_or_list(v) for k, v in principal.items()}
        for c in s.get("conditions") or []:
            st.setdefault("Condition", {}).setdefault(c["test"], {})[c["variable"]] = _one_or_list(c["values"])
        statements.append(st)
    doc = {"Version": args.get("version") or "2012-10-17", "Statement": statements}
    text = json.dumps(doc, indent=2)
    return {"json": text, "minifiedJson": json.dumps(doc, separators=(",", ":")), "id": _hash(text, 40),
            "statements": args.get("statements") or [], "version": doc["Version"]}


def _computed(typ: str, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The id and the computed outputs of one resource, formed as AWS forms them."""
    auto = f"{name}-{_hash(name)}"  # Pulumi's auto-naming: logical name + random suffix
    named = inputs.get("name") or auto
    simple = {  # type -> (id, outputs) for resources identified by their name
        "aws:dynamodb/table:Table": lambda: (named, {"name": named, "arn": arn("dynamodb", f"table/{named}")}),
        "aws:sns/topic:Topic": lambda: (arn("sns", named), {"name": named, "arn": arn("sns", named)}),
        "aws:sqs/queue:Queue": lambda: (f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{named}", {
            "name": named, "arn": arn("sqs", named), "url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{named}"}),
        "aws:ssm/parameter:Parameter": lambda: (named, {"name": named, "arn": arn("ssm", f"parameter/{named.lstrip('/')}"),
                                                        "version": 1, "tier": "Standard"}),
        "aws:iam/role:Role": lambda: (named, {"name": named, "arn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{named}",
                                              "uniqueId": "AROA" + _hash(named, 16).upper()}),
        "aws:iam/rolePolicy:RolePolicy": lambda: (f"{inputs.get('role')}:{named}", {"name": named}),
        "aws:cloudwatch/logGroup:LogGroup": lambda: (named, {"name": named, "arn": arn("logs", f"log-group:{named}")}),
        "aws:lambda/function:Function": lambda: (named, {
            "name": named, "arn": arn("lambda", f"function:{named}"), "version": "$LATEST",
            "qualifiedArn": arn("lambda", f"function:{named}:$LATEST"),
            "invokeArn": f"arn:{PARTITION}:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                         f"{arn('lambda', f'function:{named}')}/invocations"}),
        "aws:cloudwatch/eventRule:EventRule": lambda: (named, {"name": named, "arn": arn("events", f"rule/{named}")}),
        "aws:sfn/stateMachine:StateMachine": lambda: (arn("states", f"stateMachine:{named}"), {
            "name": named, "arn": arn("states", f"stateMachine:{named}"), "status": "ACTIVE"}),
        "aws:rekognition/project:Project": lambda: (named, {
            "name": named, "arn": arn("rekognition", f"project/{named}/{PROJECT_CREATED}")}),
        "aws:cloudwatch/metricAlarm:MetricAlarm": lambda: (named, {"name": named, "arn": arn("cloudwatch",
                                                                                          f"alarm:{named}")}),
        "aws:kms/alias:Alias": lambda: (named, {"name": named, "arn": arn("kms", named)}),
        "aws:cognito/userGroup:UserGroup": lambda: (f"{inputs.get('userPoolId')}/{named}", {"name": named}),
        "aws:lambda/functionUrl:FunctionUrl": lambda: (inputs.get("functionName"), {
            "functionUrl": f"https://{_hash(name, 32)}.lambda-url.{REGION}.on.aws/", "urlId": _hash(name, 32)}),
    }
    if typ in simple:
        return simple[typ]()
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or auto
        return bucket, {"bucket": bucket, "arn": f"arn:{PARTITION}:s3:::{bucket}", "region": REGION,
                        "bucketDomainName": f"{bucket}.s3.amazonaws.com"}
    if typ == "aws:kms/key:Key":
        key_id = f"{_hash(name, 8)}-1234-5678-9abc-{_hash(name + 'k', 12)}"
        return key_id, {"keyId": key_id, "arn": arn("kms", f"key/{key_id}")}
    if typ == "aws:sagemaker/humanTaskUI:HumanTaskUI":
        ui = inputs["humanTaskUiName"]
        return ui, {"arn": arn("sagemaker", f"human-task-ui/{ui}")}
    if typ == "aws:sagemaker/flowDefinition:FlowDefinition":
        flow = inputs["flowDefinitionName"]
        return flow, {"arn": arn("sagemaker", f"flow-definition/{flow}")}
    if typ == "aws:sagemaker/workforce:Workforce":
        workforce = inputs["workforceName"]
        return workforce, {"arn": arn("sagemaker", f"workforce/{workforce}"),
                           "subdomain": f"{_hash(workforce, 10)}.labeling.{REGION}.sagemaker.aws"}
    if typ == "aws:sagemaker/workteam:Workteam":
        team = inputs["workteamName"]
        return team, {"arn": arn("sagemaker", f"workteam/private-crowd/{team}"),
                      "subdomain": f"{_hash(team, 10)}.labeling.{REGION}.sagemaker.aws"}
    if typ == "aws:cognito/userPool:UserPool":
        pool = f"{REGION}_{_hash(name, 9)}"
        return pool, {"arn": arn("cognito-idp", f"userpool/{pool}"),
                      "endpoint": f"cognito-idp.{REGION}.amazonaws.com/{pool}",
                      "name": named}
    if typ == "aws:cognito/userPoolClient:UserPoolClient":  # a public client has no secret
        return _hash(name, 26), {"name": named, **({"clientSecret": _hash(name + "secret", 40)}
                                                   if inputs.get("generateSecret") else {})}
    if typ == "aws:cognito/managedLoginBranding:ManagedLoginBranding":
        branding = f"{_hash(name, 8)}-0000-4000-8000-{_hash(name + 'b', 12)}"
        return f"{inputs.get('userPoolId')},{branding}", {"managedLoginBrandingId": branding}
    if typ == "aws:apigatewayv2/api:Api":
        api = _hash(name, 10)
        return api, {"apiEndpoint": f"https://{api}.execute-api.{REGION}.amazonaws.com",
                     "arn": f"arn:{PARTITION}:apigateway:{REGION}::/apis/{api}",
                     "executionArn": arn("execute-api", api), "name": named}
    if typ == "aws:apigatewayv2/stage:Stage":
        api, stage = inputs["apiId"], inputs["name"]
        base = f"https://{api}.execute-api.{REGION}.amazonaws.com"
        return stage, {"arn": f"arn:{PARTITION}:apigateway:{REGION}::/apis/{api}/stages/{stage}",
                       "executionArn": arn("execute-api", f"{api}/{stage}"),
                       "invokeUrl": f"{base}/" if stage == "$default" else f"{base}/{stage}"}
    if typ.startswith("aws:apigatewayv2/"):  # authorizers, integrations, routes: an id within the API
        return _hash(name, 7), {}
    if typ == "aws:cognito/user:User":
        return f"{inputs.get('userPoolId')}/{inputs['username']}", {"sub": _hash(name, 32)}
    if typ == "aws:cloudwatch/dashboard:Dashboard":
        board = inputs["dashboardName"]
        return board, {"dashboardArn": f"arn:{PARTITION}:cloudwatch::{ACCOUNT}:dashboard/{board}"}
    if typ == "aws:cognito/userPoolDomain:UserPoolDomain":
        return inputs["domain"], {"cloudfrontDistribution": f"{_hash(name, 14)}.cloudfront.net"}
    bucket_config = inputs.get("bucket")
    if typ.startswith("aws:s3/") and bucket_config:
        return bucket_config, {}
    service = typ.split(":")[1].split("/")[0]
    return f"{auto}-id", {"arn": arn(service, auto)}


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    id: str | None
    inputs: dict[str, Any]  # secrets unwrapped; their keys in ``secrets``
    outputs: dict[str, Any]
    secrets: frozenset[str] = frozenset()
    ignore_changes: tuple[str, ...] = ()
    provider: str = ""  # the provider's URN ("" for a component)
    aliases: tuple[dict[str, Any], ...] = ()  # each alias as registered: {"type": …, "name": …, …} or {"urn": …}


def _unwrap(values: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    plain = {k: rpc.unwrap_rpc_secret(v) if rpc.is_rpc_secret(v) else v for k, v in values.items()}
    return plain, frozenset(k for k, v in values.items() if rpc.is_rpc_secret(v))


def resource_class(token: str) -> type | None:
    """``aws:lambda/function:Function`` → ``pulumi_aws.lambda_.Function`` (None for another package)."""
    package, module, name = token.split(":")[0], token.split(":")[1].split("/")[0], token.split(":")[2]
    if package != "aws":
        return None
    return getattr(importlib.import_module(f"pulumi_aws.{module}{'_' if module == 'lambda' else ''}"), name)


def _tags_all(typ: str, tags: Any, provider: Resource | None) -> dict[str, Any]:
    """What the AWS provider reports as a taggable resource's ``tagsAll``: its provider's default tags and
    its own."""
    kind = resource_class(typ)
    if kind is None or not isinstance(getattr(kind, "tags_all", None), property):
        return {}
    default = json.loads(provider.inputs.get("defaultTags") or "{}") if provider else {}
    return {"tagsAll": {**(default.get("tags") or {}), **(tags or {})}}


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.providers: dict[str, Resource] = {}
        self.invokes: list[tuple[str, dict]] = []
        self.invoke_providers: list[str] = []  # the provider each invoke was made with (its URN)
        self.component_outputs: dict[str, dict[str, Any]] = {}
        self.registering = threading.local()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.resources, self.providers, self.invokes, self.component_outputs = {}, {}, [], {}
            self.invoke_providers = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        urn, parent = getattr(self.registering, "urn", ""), getattr(self.registering, "parent", "")
        ignore = tuple(getattr(self.registering, "ignore_changes", ()))
        aliases = tuple(getattr(self.registering, "aliases", ()))
        inputs, secrets = _unwrap(args.inputs)
        if not args.custom:  # a component: no provider, no id
            with self._lock:
                self.resources[urn] = Resource(urn, args.typ, args.name, parent, False, None, inputs, {},
                                               aliases=aliases)
            return None, {}
        if args.typ.startswith("pulumi:providers:"):
            with self._lock:
                self.providers[urn] = Resource(urn, args.typ, args.name, parent, True, f"{args.name}-id", inputs,
                                               dict(inputs), secrets)
            return f"{args.name}-id", {}
        provider_urn = args.provider.rsplit("::", 1)[0] if args.provider else ""  # a reference: <urn>::<id>
        resource_id, computed = _computed(args.typ, args.name, inputs)
        computed |= _tags_all(args.typ, inputs.get("tags"), self.providers.get(provider_urn))
        with self._lock:
            self.resources[urn] = Resource(urn, args.typ, args.name, parent, True, resource_id, inputs,
                                           {**inputs, **computed}, secrets, ignore, provider_urn, aliases)
        return resource_id, {**args.inputs, **computed}  # secret inputs stay secret outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        with self._lock:
            self.invokes.append((args.token, dict(args.args)))
            self.invoke_providers.append(args.provider.rsplit("::", 1)[0] if args.provider else "")
        if args.token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return render_policy_document(args.args)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:{PARTITION}:iam::{ACCOUNT}:user/deployer", "userId": "AIDATEST",
                    "id": ACCOUNT}
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION, "endpoint": f"ec2.{REGION}.amazonaws.com",
                    "description": "Europe (Ireland)"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": PARTITION, "id": PARTITION, "dnsSuffix": "amazonaws.com",
                    "reverseDnsPrefix": "com.amazonaws"}
        raise NotImplementedError(f"the mocks do not answer invoke {args.token}")  # fail loudly, never None


class Monitor(MockMonitor):
    """Adds what the stock mock monitor drops: each resource's URN, parent and
    ``ignore_changes``, and the outputs components register."""

    mocks: Mocks

    def RegisterResource(self, request):
        self.mocks.registering.urn = self.make_urn(request.parent, request.type, request.name)
        self.mocks.registering.parent = request.parent
        self.mocks.registering.ignore_changes = list(request.ignoreChanges)
        self.mocks.registering.aliases = [_alias(a) for a in request.aliases]
        return super().RegisterResource(request)

    def RegisterResourceOutputs(self, request):
        outputs = rpc.deserialize_properties(request.outputs)
        with self.mocks._lock:
            self.mocks.component_outputs[request.urn] = outputs
        return super().RegisterResourceOutputs(request)


def _alias(alias) -> dict[str, Any]:
    """An alias as registered: an URN, or the spec of the resource's former self."""
    if alias.WhichOneof("alias") == "urn":
        return {"urn": alias.urn}
    spec = alias.spec
    return {key: value for key, value in (("type", spec.type), ("name", spec.name), ("stack", spec.stack),
                                          ("project", spec.project), ("parentUrn", spec.parentUrn)) if value}


MOCKS = Mocks()
MONITOR = Monitor(MOCKS)


def use_mocks(stack: str = "test") -> Mocks:
    """Point the runtime at the (reset) mocks, as stack ``stack`` of this project."""
    MOCKS.reset()
    pulumi.runtime.set_mocks(MOCKS, project=PROJECT, stack=stack, preview=False, monitor=MONITOR)
    return MOCKS


use_mocks()


@dataclass
class Deployment:
    """What one program run registered; read-only."""

    stack: str
    config: dict[str, Any]
    resources: list[Resource]
    component_outputs: dict[str, dict[str, Any]]
    stack_outputs: dict[str, Any]
    invokes: list[tuple[str, dict]] = field(default_factory=list)
    providers: list[Resource] = field(default_factory=list)
    invoke_providers: list[str] = field(default_factory=list)

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.type == typ]

    def named(self, name: str, typ: str | None = None) -> Resource:
        found = [r for r in self.resources if r.name == name and (typ is None or r.type == typ)]
        assert len(found) == 1, f"{len(found)} resources named {name!r} ({typ or 'any type'})"
        return found[0]

    def where(self, typ: str, **inputs: Any) -> list[Resource]:
        return [r for r in self.of_type(typ) if all(r.inputs.get(k) == v for k, v in inputs.items())]

    def one(self, typ: str, **inputs: Any) -> Resource:
        found = self.where(typ, **inputs)
        assert len(found) == 1, f"{len(found)} {typ} with {inputs}"
        return found[0]

    def component(self, typ: str) -> Resource:
        (found,) = [r for r in self.resources if r.type == typ and not r.custom]
        return found

    def children(self, parent: Resource, typ: str | None = None) -> list[Resource]:
        return [r for r in self.resources if r.parent == parent.urn and (typ is None or r.type == typ)]

    def descendants(self, ancestor: Resource) -> list[Resource]:
        found, frontier = [], [ancestor.urn]
        while frontier:
            urn = frontier.pop()
            for r in self.resources:
                if r.parent == urn:
                    found.append(r)
                    frontier.append(r.urn)
        return found

    def registered(self, component: Resource) -> dict[str, Any]:
        return self.component_outputs[component.urn]

    def count_by_type(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.resources:
            if r.custom:
                counts[r.type] = counts.get(r.type, 0) + 1
        return dict(sorted(counts.items()))


def config_values(config: Mapping[str, Any]) -> dict[str, str]:
    """Stack config as the engine hands it over: namespaced keys, JSON strings for structured values."""
    return {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def run(fn: Callable[[], Any], config: Mapping[str, Any], stack: str = "test") -> Mocks:
    """Run ``fn`` as a Pulumi program (it may return an Output to wait on); all
    registrations have finished when this returns. Exceptions propagate."""
    mocks = use_mocks(stack)
    pulumi.runtime.set_all_config(config_values(config))
    pulumi.runtime.test(fn)()
    return mocks


_DEPLOYMENTS: dict[tuple[str, str], Deployment] = {}


def run_program(config: Mapping[str, Any], stack: str = "test") -> Deployment:
    """Run ``__main__.py`` with this stack config; one run per (stack, config) per process."""
    key = (stack, json.dumps(config, sort_keys=True))
    if key not in _DEPLOYMENTS:
        def outputs():
            root = pulumi.runtime.get_root_resource()
            root.outputs.clear()
            runpy.run_path(str(PROGRAM), run_name="__main__")
            return root.outputs

        _DEPLOYMENTS[key] = _deploy(outputs, config, stack)
    return _DEPLOYMENTS[key]


def run_loop(config, stack: str = "test") -> Deployment:
    """A LabelLoop built from a ``components.config.StackConfig`` as given, past the stack-config
    checks: the components at limits the stack config does not accept with every review backend."""
    from components.loop import LabelLoop, LabelLoopArgs

    return _deploy(lambda: LabelLoop("labelloop", LabelLoopArgs(config=config, stack=stack)).outputs, {}, stack)


def _deploy(outputs: Callable[[], Mapping[str, Any]], config: Mapping[str, Any], stack: str) -> Deployment:
    """Run a program whose ``outputs()`` builds the resources and returns the stack outputs."""
    exported: dict[str, Any] = {}
    mocks = run(lambda: pulumi.Output.all(**outputs()).apply(exported.update), config, stack)
    with mocks._lock:
        return Deployment(stack, dict(config), list(mocks.resources.values()), dict(mocks.component_outputs),
                          exported, list(mocks.invokes), list(mocks.providers.values()), list(mocks.invoke_providers))


# -- stacks the tests deploy ----------------------------------------------------------------
BUILTIN, A2I = "builtin", "a2i"  # the review backends (labelloop:review) the stacks below use
# The default config: two labels, everything else default (the builtin review app, its own user pool).
BUILTIN_SMALL = {"labels": ["cat", "dog"]}
# The smallest A2I stack: two labels and an existing work team; everything else default.
DEFAULT = {"labels": ["cat", "dog"], "review": "a2i", "workteamName": "reviewers"}
# Everything set: a created workforce with reviewers, team policies (one shipped, one from
# examples/acme-policy), parameter overrides, x86, longer log retention, tags.
TEAM_POLICIES = ("policies.review_budget", "acme_min_per_label")
FULL = {
    "labels": ["cat", "dog", "bird"], "review": "a2i", "createWorkforce": True,
    "reviewerEmails": ["ana@example.com", "bo@example.com"], "notificationEmail": "ops@example.com",
    "policies": list(TEAM_POLICIES),
    "parameterDefaults": {"Minimum-F1-Score": 0.9, "Automatic-Training-Poll-Frequency": 60,
                          "Enable-Automatic-Training": False, "Maximum-Reviews-Per-Day": 40},
    "lambdaArchitecture": "x86_64", "logRetentionDays": 90, "tags": {"team": "vision"},
    "maxTrainingHours": 3, "maxStartMinutes": 20,
}
# The builtin review app with everything of its own set: invited reviewers, throttling, the image
# links' lifetime, the alarm's hours; and more labels than A2I could show.
BUILTIN_FULL = {
    "labels": [f"label {i}" for i in range(12)], "reviewerEmails": ["ana@example.com", "bo@example.com"],
    "notificationEmail": "ops@example.com", "reviewApiThrottle": {"rate": 5, "burst": 10},
    "reviewImageUrlSeconds": 600, "reviewAlarmHours": 8, "logRetentionDays": 90, "tags": {"team": "vision"},
}
# The builtin review app with reviewers in a user pool the stack does not own.
EXISTING_POOL = {"labels": ["cat", "dog"], "reviewerUserPoolId": "eu-west-1_Reviewers1", "reviewerGroup": "labelers",
                 "reviewerUserPoolDomain": "acme-login"}

# Resource types.
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
FUNCTION = "aws:lambda/function:Function"
INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
KMS_KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
PARAMETER = "aws:ssm/parameter:Parameter"
PERMISSION = "aws:lambda/permission:Permission"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
TABLE = "aws:dynamodb/table:Table"
TOPIC = "aws:sns/topic:Topic"


def function_name(key: str, stack: str = "test") -> str:
    return f"labelloop-{stack}-{key.replace('_', '-')}"


def role_policy(deployment: Deployment, role_name: str) -> dict[str, Any]:
    """The inline policy document of one role."""
    return json.loads(deployment.one(ROLE_POLICY, role=role_name).inputs["policy"])


def trust_policy(deployment: Deployment, role_name: str) -> dict[str, Any]:
    return json.loads(deployment.one(ROLE, name=role_name).inputs["assumeRolePolicy"])


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def actions_of(document: Mapping[str, Any]) -> set[str]:
    return {a for s in document["Statement"] for a in as_list(s.get("Action", []))}
