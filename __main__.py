"""The Pulumi program: reads the stack configuration and builds the loop."""

import os

import pulumi

from components.config import check_region, load_stack_config
from components.loop import LabelLoop, LabelLoopArgs

# The region the AWS provider deploys to, as it chooses it: refused before anything is created when
# it has no Rekognition Custom Labels (the project would fail late, after most of the stack exists).
check_region(pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
config = load_stack_config(pulumi.Config("labelloop"))
loop = LabelLoop("labelloop", LabelLoopArgs(config=config, stack=pulumi.get_stack()))
for key, value in loop.outputs.items():
    pulumi.export(key, value)
