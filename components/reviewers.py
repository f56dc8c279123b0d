"""The reviewers in a Cognito user pool the stack creates, for either review backend: the pool
(only administrators create users; sign-in by e-mail address), the reviewer group, and a user
invited by e-mail and added to the group for each configured address."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_aws as aws

from components.naming import REVIEWER_GROUP, Naming

TEMPORARY_PASSWORD_DAYS = 7


@dataclass(frozen=True)
class Invitation:
    """The e-mail a new reviewer gets; ``message`` contains ``{username}`` and ``{####}``
    (the temporary password), as Cognito requires."""

    subject: str
    message: pulumi.Input[str]


@dataclass
class ReviewerPool:
    pool: aws.cognito.UserPool
    group: aws.cognito.UserGroup
    reviewers: list[tuple[aws.cognito.User, aws.cognito.UserInGroup]]


def reviewer_pool(name: str, naming: Naming, emails: Sequence[str], *, group_description: str,
                  parent: pulumi.Resource, invitation: Invitation | None = None,
                  **pool_options) -> ReviewerPool:
    """The pool ``<name>-reviewers`` with its group and users (``<name>-reviewer-<hash of the address>``)."""
    child = pulumi.ResourceOptions(parent=parent)
    admin_only = aws.cognito.UserPoolAdminCreateUserConfigArgs(
        allow_admin_create_user_only=True,
        invite_message_template=aws.cognito.UserPoolAdminCreateUserConfigInviteMessageTemplateArgs(
            email_subject=invitation.subject, email_message=invitation.message) if invitation else None)
    pool = aws.cognito.UserPool(
        f"{name}-reviewers", name=naming("reviewers"), username_attributes=["email"],
        auto_verified_attributes=["email"], admin_create_user_config=admin_only,
        password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
            minimum_length=12, require_lowercase=True, require_uppercase=True, require_numbers=True,
            require_symbols=False, temporary_password_validity_days=TEMPORARY_PASSWORD_DAYS),
        account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(recovery_mechanisms=[
            aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(name="verified_email", priority=1)]),
        opts=child, **pool_options)
    group = aws.cognito.UserGroup(f"{name}-reviewers-group", name=REVIEWER_GROUP, user_pool_id=pool.id,
                                  description=group_description, opts=child)
    reviewers = []
    for email in emails:
        key = hashlib.sha256(email.lower().encode()).hexdigest()[:8]
        user = aws.cognito.User(
            f"{name}-reviewer-{key}", user_pool_id=pool.id, username=email,
            attributes={"email": email, "email_verified": "true"}, desired_delivery_mediums=["EMAIL"], opts=child)
        membership = aws.cognito.UserInGroup(
            f"{name}-reviewer-{key}-group", user_pool_id=pool.id, group_name=group.name, username=user.username,
            opts=child)
        reviewers.append((user, membership))
    return ReviewerPool(pool, group, reviewers)
