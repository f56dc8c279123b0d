"""The release check on a real AWS account (opt in: `pytest -m aws`): Pulumi's Automation API deploys a
throw-away stack of this checkout, `labelloop doctor` and `labelloop smoke` run against it, and it is
torn down — `labelloop teardown`, the bucket emptied, `pulumi destroy`, the stack removed — even when
a step fails.

NOT RUN YET: no AWS account was at hand where this test was written; every other test runs against
moto, Pulumi's mocks and local stand-ins. Expect the first run to find what those cannot.

It runs only with AWS credentials, the Pulumi CLI logged in to a backend (`pulumi login --local`
will do) and LABELLOOP_AWS_RELEASE_CHECK=1, never in CI. It costs cents (no model is trained or
started); LABELLOOP_AWS_REGION picks the region (default eu-west-1). See docs/deploying.md, "The
release check".
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.aws


def _why_not() -> str | None:
    if os.environ.get("CI"):
        return "never in CI: the release check deploys to a real AWS account"
    if os.environ.get("LABELLOOP_AWS_RELEASE_CHECK") != "1":
        return "opt in with LABELLOOP_AWS_RELEASE_CHECK=1 (it deploys a stack to your AWS account)"
    if shutil.which("pulumi") is None:
        return "the Pulumi CLI is not on PATH"
    import boto3

    if boto3.Session().get_credentials() is None:
        return "no AWS credentials"
    return None


@pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")
def test_a_throw_away_stack_deploys_passes_doctor_and_smoke_and_is_torn_down(capsys):
    import boto3
    from cli_support import cli
    from pulumi import automation

    region = os.environ.get("LABELLOOP_AWS_REGION", "eu-west-1")
    name = f"release{uuid.uuid4().hex[:8]}"
    stack = automation.create_stack(stack_name=name, work_dir=str(ROOT))
    failures: list[str] = []
    try:
        stack.set_config("aws:region", automation.ConfigValue(region))
        stack.set_all_config({"labelloop:labels": automation.ConfigValue('["cat", "dog"]'),
                              "labelloop:parameterDefaults": automation.ConfigValue(
                                  '{"Idle-Stop-Minutes": 15, "Start-On-Pending-Images": 1}')}, path=False)
        stack.up(on_output=print)
        os.chdir(ROOT)  # the commands read the stack's outputs with the Pulumi CLI, here
        for argv in (["doctor", "--stack", name], ["smoke", "--stack", name, "--yes"]):
            code, out, err = cli(capsys, *argv)
            print(out, err)
            if code != 0:
                failures.append(f"`labelloop {' '.join(argv)}` exited {code}: {err or out}")
    finally:
        code, out, err = cli(capsys, "teardown", "--stack", name, "--poll", "30", "--yes")
        if code != 0:
            failures.append(f"teardown exited {code}: {err or out}")
        bucket = stack.outputs().get("bucketName")
        if bucket:
            boto3.Session(region_name=region).resource("s3").Bucket(bucket.value).object_versions.delete()
        stack.destroy(on_output=print)
        stack.workspace.remove_stack(name)
    assert not failures, "\n".join(failures)
