"""One Pulumi ComponentResource per workflow stage, plus pure builders (stack
config, state machine definitions, IAM documents) that import no pulumi."""
