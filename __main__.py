"""The Pulumi program: reads the stack configuration and builds the loop."""

import pulumi

from components.config import load_stack_config
from components.loop import LabelLoop, LabelLoopArgs

config = load_stack_config(pulumi.Config("labelloop"))
loop = LabelLoop("labelloop", LabelLoopArgs(config=config, stack=pulumi.get_stack()))
for key, value in loop.outputs.items():
    pulumi.export(key, value)
