"""Every call a function makes, judged by that function's role policy, as IAM would judge it.

:func:`requests` turns one API call into what IAM authorizes: the action, the resource ARN and the
request's condition keys (``s3:prefix`` for a listing). The decision is moto's IAM policy evaluator's
(``moto.iam.access_control``: actions and resources with wildcards, conditions), one statement at a
time: an explicit Deny wins, then any Allow, else the call is implicitly denied. (moto counts an Allow
whose condition fails as a Deny; here it only does not allow. A condition on a key the request does
not carry is false, as in IAM; moto would skip it.) The condition operators moto lacks (``StringLike``
…) are added by :mod:`sandbox.moto_harness`.

Some services act with the caller's access, which no evaluator knows of: Rekognition Custom Labels
reads the training manifests, every image they name, and writes the results with the access of whoever
calls ``CreateProjectVersion``, and reads the image of a ``DetectCustomLabels`` call ("Set up SDK
permissions"). Those reads and writes are requests of the call too.

An :class:`AccessCheck` is attached to each client of a function (``LocalStack(role_policies=…)``):
a call its role does not allow fails as AWS fails it (``AccessDeniedException``), and is recorded.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Mapping

from components.grants import CUSTOM_LABELS_BUCKET, CUSTOM_LABELS_READS, CUSTOM_LABELS_WRITES

Reader = Callable[[str, str], bytes]  # (bucket, key) -> the object's content

# S3 operations on one object, by the IAM action they need (on a given version: that action + "Version").
S3_OBJECT_ACTIONS = {"GetObject": "GetObject", "HeadObject": "GetObject", "GetObjectAcl": "GetObjectAcl",
                     "GetObjectTagging": "GetObjectTagging", "PutObject": "PutObject",
                     "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
                     "CompleteMultipartUpload": "PutObject", "AbortMultipartUpload": "AbortMultipartUpload",
                     "DeleteObject": "DeleteObject"}
VERSIONED = ("GetObject", "GetObjectAcl", "GetObjectTagging", "DeleteObject")  # ...Version with a VersionId
S3_BUCKET_ACTIONS = {"ListObjectsV2": "ListBucket", "ListObjects": "ListBucket",
                     "ListObjectVersions": "ListBucketVersions", "GetBucketLocation": "GetBucketLocation",
                     "GetBucketAcl": "GetBucketAcl"}
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                    "ConditionCheck": "ConditionCheckItem"}
REKOGNITION_ON_VERSION = ("DetectCustomLabels", "StartProjectVersion", "StopProjectVersion", "DeleteProjectVersion")
NEW_VERSION_CREATED = "0"
IAM_PREFIXES = {"monitoring": "cloudwatch"}  # a signing name that is not the service's IAM prefix
ACTIONS = {("lambda", "Invoke"): "InvokeFunction"}  # operations authorized by an action of another name  # a version's ARN ends in its creation time, unknown before CreateProjectVersion


@dataclass(frozen=True)
class Request:
    """What IAM authorizes: an action on a resource, with the request's condition keys."""

    action: str
    resource: str
    conditions: tuple[tuple[str, str], ...] = ()  # (condition key, value)

    def __str__(self) -> str:
        keys = "".join(f" [{k}={v!r}]" for k, v in self.conditions)
        return f"{self.action} on {self.resource}{keys}"


@dataclass(frozen=True)
class Place:
    """Where the calls go: the region and account of the stack's ARNs."""

    region: str
    account: str

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


# -- what a call is, to IAM --------------------------------------------------------------------
def requests(service: str, operation: str, params: Mapping[str, Any], place: Place,
             read: Reader) -> tuple[Request, ...]:
    """The requests IAM authorizes for one call; ``service`` is the client's signing name (the IAM
    prefix), ``read`` gives an object's content (the manifests a training reads). An operation this
    does not know is asked as ``<service>:<operation>`` on ``*``: allowed only by a grant on every
    resource, so a new kind of call is looked at, not waved through."""
    service = IAM_PREFIXES.get(service, service)
    if (service, operation) in ACTIONS:
        operation = ACTIONS[service, operation]
    if service == "s3":
        return _s3(operation, params)
    if service == "dynamodb":
        return _dynamodb(operation, params, place)
    action = f"{service}:{operation}"
    if service == "ssm" and operation == "GetParametersByPath":
        return (Request(action, place.arn("ssm", "parameter/" + params["Path"].strip("/"))),)
    if service == "ssm" and "Names" in params:
        return tuple(Request(action, place.arn("ssm", "parameter/" + name.lstrip("/"))) for name in params["Names"])
    if service == "ssm" and "Name" in params:
        return (Request(action, place.arn("ssm", "parameter/" + params["Name"].lstrip("/"))),)
    if service == "sns":
        return (Request(action, params.get("TopicArn") or params.get("TargetArn") or "*"),)
    if service == "states" and "stateMachineArn" in params:
        return (Request(action, params["stateMachineArn"]),)
    if service == "events" and operation == "PutEvents":
        buses = (entry.get("EventBusName") or "default" for entry in params["Entries"])
        return tuple(Request(action, bus if bus.startswith("arn:") else place.arn("events", f"event-bus/{bus}"))
                     for bus in buses)
    if service == "events" and "Name" in params:
        return (Request(action, place.arn("events", f"rule/{params['Name']}")),)
    if service == "states" and "executionArn" in params:
        return (Request(action, params["executionArn"]),)
    if service == "lambda" and "FunctionName" in params:
        name = params["FunctionName"]
        return (Request(action, name if name.startswith("arn:") else place.arn("lambda", f"function:{name}")),)
    if service == "cognito-idp" and "UserPoolId" in params:
        return (Request(action, place.arn("cognito-idp", f"userpool/{params['UserPoolId']}")),)
    if service == "iam" and operation == "SimulatePrincipalPolicy":
        return (Request(action, params["PolicySourceArn"]),)
    if service == "sqs" and ("QueueName" in params or "QueueUrl" in params):  # a queue's URL ends in its name
        return (Request(action, place.arn("sqs", params.get("QueueName") or params["QueueUrl"].rsplit("/", 1)[1])),)
    if service == "sagemaker" and operation == "StartHumanLoop":
        return (Request(action, params["FlowDefinitionArn"]),)
    if service == "rekognition":
        return _rekognition(operation, params, read)
    return (Request(action, "*"),)


def _s3(operation: str, params: Mapping[str, Any]) -> tuple[Request, ...]:
    if operation in S3_BUCKET_ACTIONS:
        listing = S3_BUCKET_ACTIONS[operation].startswith("List")
        conditions = (("s3:prefix", params.get("Prefix", "")),) if listing else ()
        return (Request(f"s3:{S3_BUCKET_ACTIONS[operation]}", f"arn:aws:s3:::{params['Bucket']}", conditions),)
    if operation in ("CopyObject", "UploadPartCopy"):
        source = params["CopySource"]
        if isinstance(source, str):
            bucket, _, key = source.lstrip("/").partition("/")
            key, _, version = key.partition("?versionId=")
            source = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
        return (_object("GetObject", source["Bucket"], source["Key"], source.get("VersionId")),
                _object("PutObject", params["Bucket"], params["Key"]))
    if operation == "DeleteObjects":  # authorized as a DeleteObject (Version) of each object
        return tuple(_object("DeleteObject", params["Bucket"], o["Key"], o.get("VersionId"))
                     for o in params["Delete"]["Objects"])
    if operation in S3_OBJECT_ACTIONS:
        return (_object(S3_OBJECT_ACTIONS[operation], params["Bucket"], params["Key"], params.get("VersionId")),)
    return (Request(f"s3:{operation}", f"arn:aws:s3:::{params.get('Bucket', '*')}"),)


def _object(action: str, bucket: str, key: str, version: str | None = None) -> Request:
    """``action`` on one object; on one version of it, the action's ``…Version`` form."""
    versioned = version and action in VERSIONED
    return Request(f"s3:{action}Version" if versioned else f"s3:{action}", f"arn:aws:s3:::{bucket}/{key}")


def _dynamodb(operation: str, params: Mapping[str, Any], place: Place) -> tuple[Request, ...]:
    def table(name: str, index: str | None = None) -> str:
        return place.arn("dynamodb", f"table/{name}" + (f"/index/{index}" if index else ""))

    if operation == "TransactWriteItems":
        return tuple(Request(f"dynamodb:{TRANSACT_ACTIONS[kind]}", table(item[kind]["TableName"]))
                     for item in params["TransactItems"] for kind in item)
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return tuple(Request(f"dynamodb:{operation}", table(name)) for name in params["RequestItems"])
    return (Request(f"dynamodb:{operation}", table(params["TableName"], params.get("IndexName"))),)


def _rekognition(operation: str, params: Mapping[str, Any], read: Reader) -> tuple[Request, ...]:
    action = f"rekognition:{operation}"
    if operation in REKOGNITION_ON_VERSION:
        found = [Request(action, params["ProjectVersionArn"])]
        image = (params.get("Image") or {}).get("S3Object")
        if image:  # read with the caller's access
            found.append(_object("GetObject", image["Bucket"], image["Name"], image.get("Version")))
        return tuple(found)
    if operation == "CreateProjectVersion":
        project = params["ProjectArn"]
        version = f"{project.rsplit('/', 1)[0]}/version/{params['VersionName']}/{NEW_VERSION_CREATED}"
        found = [Request(action, project), Request(action, version)]
        if params.get("Tags"):  # IAM authorizes tags given on create as TagResource on the new version
            found.append(Request("rekognition:TagResource", version))
        return tuple(found) + training_reads_and_writes(params, read)
    return (Request(action, params.get("ProjectArn", "*")),)


def training_reads_and_writes(params: Mapping[str, Any], read: Reader) -> tuple[Request, ...]:
    """CreateProjectVersion with the SDK: Custom Labels reads each manifest and every image it
    names, and writes the results, with the caller's access ("Set up SDK permissions")."""
    output = params["OutputConfig"]
    found = [Request(action, f"arn:aws:s3:::{output['S3Bucket']}") for action in CUSTOM_LABELS_BUCKET]
    found += [Request(action, f"arn:aws:s3:::{output['S3Bucket']}/{output.get('S3KeyPrefix', '')}")
              for action in CUSTOM_LABELS_WRITES]
    for data in (params.get("TrainingData"), params.get("TestingData")):
        for asset in (data or {}).get("Assets", []):
            manifest = asset["GroundTruthManifest"]["S3Object"]
            objects = [(manifest["Bucket"], manifest["Name"])]
            for line in read(manifest["Bucket"], manifest["Name"]).decode().splitlines():
                source = json.loads(line)["source-ref"].removeprefix("s3://")
                objects.append(tuple(source.split("/", 1)))
            found += [Request(action, f"arn:aws:s3:::{bucket}/{key}")
                      for bucket, key in objects for action in CUSTOM_LABELS_READS]
    return tuple(found)


# -- the decision ----------------------------------------------------------------------------
def allowed(document: Mapping[str, Any], request: Request) -> bool:
    """Whether an identity policy allows the request: no Deny statement matches it and an Allow does."""
    statements = document["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    matching = [s["Effect"] for s in statements if _matches(s, request)]
    return "Deny" not in matching and "Allow" in matching


def _matches(statement: Mapping[str, Any], request: Request) -> bool:
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    # A condition on a key the request does not carry is false (moto would skip it).
    keys = {key for block in statement.get("Condition", {}).values() for key in block}
    if not keys <= {key for key, _ in request.conditions}:
        return False

    as_allow = IAMPolicyStatement({**statement, "Effect": "Allow"})  # PERMITTED: action, resource and condition match
    return as_allow.is_action_permitted(request.action, request.resource,
                                        incoming_condition_values=dict(request.conditions)) == PermissionResult.PERMITTED


# -- on the clients ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Denial:
    function: str
    operation: str  # service:Operation as called
    request: Request

    def __str__(self) -> str:
        return f"{self.function}: {self.operation} needs {self.request}"


class AccessCheck:
    """Judges every call of the clients it is attached to by their function's policy document."""

    def __init__(self, policies: Mapping[str, Mapping[str, Any]], place: Place, read: Reader):
        self.policies, self.place, self.read = dict(policies), place, read
        self.denials: list[Denial] = []
        self.requests: dict[str, set[Request]] = {}  # every request judged, per function
        self._lock = threading.Lock()

    def attach(self, function: str, client: Any) -> None:
        if function not in self.policies:
            raise KeyError(f"no policy document for function {function!r}")

        def judge(model, params, **_):
            return self.judge(function, model.service_model.signing_name, model.name, params)

        client.meta.events.register_first("before-parameter-build.*.*", judge)
        service_id = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"before-call.{service_id}.*", self._refuse)

    def judge(self, function: str, service: str, operation: str, params: Mapping[str, Any]) -> None:
        wanted = requests(service, operation, params, self.place, self.read)
        refused = [r for r in wanted if not allowed(self.policies[function], r)]
        with self._lock:
            self.requests.setdefault(function, set()).update(wanted)
            self.denials += [Denial(function, f"{service}:{operation}", r) for r in refused]
        _REFUSED.request = (service, refused[0]) if refused else None

    @staticmethod
    def _refuse(**_):
        """AWS's answer to a call the role does not allow (the request judged just before, on this thread)."""
        refused = getattr(_REFUSED, "request", None)
        if refused is None:
            return None
        _REFUSED.request = None
        service, request = refused
        message = f"User is not authorized to perform: {request.action} on resource: {request.resource}"
        code = "AccessDenied" if service == "s3" else "AccessDeniedException"
        parsed = {"Error": {"Code": code, "Message": message},
                  "ResponseMetadata": {"HTTPStatusCode": 403, "HTTPHeaders": {}, "RetryAttempts": 0}}
        return SimpleNamespace(status_code=403, headers={}, content=b"", raw=None), parsed


_REFUSED = threading.local()
