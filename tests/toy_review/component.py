"""The toy backend's resources: its queue, its function and the function URL its answers arrive at."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.review_stage import ReviewStage, ReviewStageArgs
from toy_review.deploy import queue_name


class ToyReview(ReviewStage):
    def __init__(self, name: str, args: ReviewStageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labelloop:index:ToyReview", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.queue = aws.sqs.Queue(f"{name}-tasks", name=queue_name(args.naming), fifo_queue=True, opts=child)
        self.deployed = {"toy_answer": args.functions.create("toy_answer", self, name)}
        self.url = aws.lambda_.FunctionUrl(f"{name}-answers", function_name=self.deployed["toy_answer"].name,
                                           authorization_type="AWS_IAM", opts=child)
        self.stack_outputs = {"toyAnswerUrl": self.url.function_url, "toyQueue": self.queue.name}
        self.register_outputs(self.stack_outputs)
