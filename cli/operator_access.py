"""What the ``labelloop`` commands call on a deployed stack, as IAM actions on the stack's ARNs (the
templates of :mod:`components.deployer`), command by command: the operators' half of
``labelloop deployer-policy``. The tests run the commands against a stack in moto, record every AWS
call they make and judge each by the policy this renders (``sandbox.access``)."""

from __future__ import annotations

from components.deploy_access import UNSCOPED, USER_POOLS, Access

TABLE = "arn:{p}:dynamodb:{r}:{a}:table/{n}-state"
PARAMETER_PATH = ("arn:{p}:ssm:{r}:{a}:parameter/{path}", "arn:{p}:ssm:{r}:{a}:parameter/{path}/*")
LIFECYCLE = ("arn:{p}:states:{r}:{a}:stateMachine:{n}-lifecycle", "arn:{p}:states:{r}:{a}:execution:{n}-lifecycle:*")
DETECTION = ("arn:{p}:states:{r}:{a}:stateMachine:{n}-detection", "arn:{p}:states:{r}:{a}:execution:{n}-detection:*")
FUNCTIONS = "arn:{p}:lambda:{r}:{a}:function:{n}-*"
SERVE = "arn:{p}:lambda:{r}:{a}:function:{n}-serve"
START_REVIEW = "arn:{p}:lambda:{r}:{a}:function:{n}-start-review"
BUCKET = "arn:{p}:s3:::{n}-*"
# What smoke puts into the bucket and removes again: its uploads and the copies its answers make.
SMOKE_OBJECTS = ("arn:{p}:s3:::{n}-*/images_for_detection/labelloop-smoke/*",
                 "arn:{p}:s3:::{n}-*/images_labeled_by_folder/*", "arn:{p}:s3:::{n}-*/images_for_testing/*")
PROJECT_VERSIONS = "arn:{p}:rekognition:{r}:{a}:project/*"
PRINCIPALS = ("arn:{p}:iam::{a}:user/*", "arn:{p}:iam::{a}:role/*")

READ_PARAMETERS = Access(("ssm:GetParametersByPath",), PARAMETER_PATH)
READ_TABLE = Access(("dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"), (TABLE,))

COMMAND_ACCESS: dict[str, tuple[Access, ...]] = {
    "params": (READ_PARAMETERS, Access(("ssm:PutParameter",), PARAMETER_PATH)),
    "status": (READ_PARAMETERS, READ_TABLE),
    "versions": (READ_TABLE,),
    "train": (READ_TABLE, Access(("states:StartExecution", "states:DescribeExecution", "states:GetExecutionHistory"),
                                 LIFECYCLE)),
    "replay": (READ_TABLE, Access(("dynamodb:UpdateItem",), (TABLE,)),
               Access(("states:StartExecution",), DETECTION)),
    "export": (Access(("dynamodb:Scan",), (TABLE,)),),
    "serving": (READ_PARAMETERS, READ_TABLE, Access(("lambda:InvokeFunction",), (SERVE,))),  # stop, start, teardown
    "doctor": (READ_PARAMETERS, READ_TABLE,
               Access(("sts:GetCallerIdentity", "lambda:GetAccountSettings", "servicequotas:ListServiceQuotas",
                       "cloudwatch:GetMetricData", "rekognition:DescribeProjects", "events:ListRules"), (UNSCOPED,)),
               Access(("iam:SimulatePrincipalPolicy",), PRINCIPALS),
               Access(("lambda:GetFunctionConfiguration",), (FUNCTIONS,)),
               Access(("rekognition:DescribeProjectVersions",), (PROJECT_VERSIONS,)),
               Access(("cognito-idp:DescribeUserPool",), (USER_POOLS,)),
               Access(("sagemaker:DescribeFlowDefinition",), ("arn:{p}:sagemaker:{r}:{a}:flow-definition/{n}-*",))),
    "smoke": (READ_PARAMETERS, READ_TABLE,
              Access(("lambda:GetFunctionConfiguration",), (FUNCTIONS,)),
              Access(("lambda:InvokeFunction",), (START_REVIEW,)),
              Access(("s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject",
                      "s3:DeleteObjectVersion"), SMOKE_OBJECTS),
              Access(("s3:ListBucket", "s3:ListBucketVersions"), (BUCKET,)),
              Access(("cognito-idp:AdminCreateUser", "cognito-idp:AdminSetUserPassword",
                      "cognito-idp:AdminAddUserToGroup", "cognito-idp:AdminInitiateAuth",
                      "cognito-idp:AdminDeleteUser"), (USER_POOLS,)),
              Access(("states:DescribeExecution",), DETECTION)),
}


def operator_access() -> list[Access]:
    return [access for accesses in COMMAND_ACCESS.values() for access in accesses]
