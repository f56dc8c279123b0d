"""The Pulumi program: reads the stack configuration and builds the loop."""

import pulumi

from components.config import load_stack_config

config = load_stack_config(pulumi.Config("labelloop"))
pulumi.export("labels", list(config.labels))
