"""The stand-in for IAM's policy simulator (``SimulatePrincipalPolicy``), the one IAM operation
`labelloop doctor` calls that moto lacks; every other IAM call goes on to moto (attach it with
``passthrough=True``).

It judges each action on each resource by the principal's identity policies as moto holds them —
a user's inline and attached policies and its groups', a role's inline and attached policies — with
:mod:`sandbox.access`'s evaluator (wildcards, an explicit Deny first). Unlike IAM's simulator it
knows no permissions boundaries, service control policies or condition context entries; a
statement with a condition never matches here.
"""

from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import unquote

from .access import Request, allowed
from .standins import ServiceFault


class PolicySimulator:
    def __init__(self, client: Callable[[str], Any]):
        self.client = client  # a client of a service, in moto (through the stand-in: IAM's other calls pass)

    def SimulatePrincipalPolicy(self, PolicySourceArn, ActionNames, ResourceArns=None, **rest):
        documents = self._documents(PolicySourceArn)
        results = []
        for action in ActionNames:
            resources = ResourceArns or ["*"]
            decisions = ["allowed" if any(allowed(d, Request(action, r)) for d in documents) else "implicitDeny"
                         for r in resources]
            decision = "allowed" if all(d == "allowed" for d in decisions) else "implicitDeny"
            results.append({"EvalActionName": action, "EvalResourceName": resources[0], "EvalDecision": decision,
                            "ResourceSpecificResults": [{"EvalResourceName": r, "EvalResourceDecision": d}
                                                        for r, d in zip(resources, decisions)]})
        return {"EvaluationResults": results, "IsTruncated": False}

    def _documents(self, arn: str) -> list[dict]:
        kind, _, name = arn.split(":", 5)[5].partition("/")
        name = name.rsplit("/", 1)[-1]
        iam = self.client("iam")
        if kind == "user":
            inline = [iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"]
                      for p in iam.list_user_policies(UserName=name)["PolicyNames"]]
            attached = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
            for group in iam.list_groups_for_user(UserName=name)["Groups"]:
                inline += [iam.get_group_policy(GroupName=group["GroupName"], PolicyName=p)["PolicyDocument"]
                           for p in iam.list_group_policies(GroupName=group["GroupName"])["PolicyNames"]]
                attached += iam.list_attached_group_policies(GroupName=group["GroupName"])["AttachedPolicies"]
        elif kind == "role":
            inline = [iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
                      for p in iam.list_role_policies(RoleName=name)["PolicyNames"]]
            attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        else:
            raise ServiceFault("InvalidInput", f"{arn} is not a user or role")
        managed = []
        for policy in attached:
            version = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["DefaultVersionId"]
            managed.append(iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)
                           ["PolicyVersion"]["Document"])
        return [_parsed(d) for d in inline + managed]


def _parsed(document: Any) -> dict:
    """A policy document as IAM returns it: a dict, or URL-encoded JSON."""
    return document if isinstance(document, dict) else json.loads(unquote(document))
