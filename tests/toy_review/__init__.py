"""A toy review backend, written as docs/architecture.md's "Adding a review backend" says and registered
by tests/test_review_backend_recipe.py alone: a review is a message on the backend's own FIFO queue, an
answer comes to its own function (through a function URL, as a webhook would) and ends in the shared
review outcome. Its four modules are the recipe's four; :data:`REGISTERED` is its registry line."""

from handlers.review_backends import Registered

REGISTERED = Registered("toy", "the toy review queue", "a queue the tests' reviewers answer from",
                        "toy_review.runtime", "toy_review.deploy", "toy_review.sandbox")
