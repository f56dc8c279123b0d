"""The hook specifications: every decision labelloop makes, as a pluggy hook.

Decision hooks are ``firstresult``: plugins are asked in turn (team plugins
first, :mod:`policies.defaults` last) and the first one that returns a decision
decides. Returning ``None`` means "no opinion, ask the next policy". A plugin
that only adds a constraint returns a "no" decision when its rule fails and
``None`` otherwise.

Implement a hook with ``@hookimpl`` and any subset of the arguments below, by
name; do not give hook implementations defaulted arguments.
"""

from __future__ import annotations

import pluggy

from .decisions import (DeploymentDecision, InferenceCapacity, LabelDecision, ReviewDecision, ServingDecision,
                        TrainingDecision)
from .facts import DatasetStats, Detection, Evaluation, LoopEvent, ModelState, ReviewResult, Serving
from .parameters import ParameterSpec, Settings

PROJECT = "labelloop"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def labelloop_parameters() -> list[ParameterSpec]:
    """The operator parameters this plugin reads.

    Called once when the plugins are loaded; every plugin's list is collected.
    The Pulumi program creates one SSM parameter per entry, handlers read and
    validate them, and the values reach every decision hook as ``settings``.
    A name defined by two plugins is a load error. Return ``None`` or ``[]``
    when the plugin has no parameters.
    """


@hookspec(firstresult=True)
def review_decision(detection: Detection, settings: Settings) -> ReviewDecision | None:
    """Should a person review this image, and for what purpose?

    Called once per detected image, after the model answered. ``detection``
    holds every label's confidence (possibly none), its detection id (fixed by
    the image's content) and the reviews started today. Return ``ReviewDecision(review=True,
    purpose="training"|"audit", …)`` to start a human loop: a ``training``
    answer may become training data, an ``audit`` answer never does. In the
    builtin review app a review may also carry its ``priority`` (0-100, the
    highest served first; left ``None``: lowest confidence first) and how many
    ``reviewers`` must answer (left ``None``: the Reviewers-Per-Image parameter).
    Return ``ReviewDecision(review=False, …)`` to decide against a review, or
    ``None`` to let the next policy decide.
    """


@hookspec(firstresult=True)
def training_decision(dataset: DatasetStats, model: ModelState, settings: Settings) -> TrainingDecision | None:
    """Should a new model version be trained now?

    Called on every scheduled or manual training check. ``dataset`` has the
    images per label and how many are new since the last successful training
    (or the last rejected candidate); ``model`` the running version and
    whether a training is in progress. Return ``None`` to let the next policy
    decide.
    """


@hookspec(firstresult=True)
def deployment_decision(
    candidate: Evaluation, incumbent: Evaluation | None, settings: Settings, replaces: str | None
) -> DeploymentDecision | None:
    """May this trained version replace the running one?

    Called once per successfully trained version with Rekognition's evaluation
    (``incumbent``: the running version's recorded one, ``None`` before the
    first deployment). With a gate set (``images_for_testing/``), asked again
    during blue/green, once the candidate runs and before the switch
    (``candidate.side_by_side``): then both were scored by the loop on the same
    gate-set images (``candidate.same_images(incumbent)``), with per-label
    metrics (every label, with its images) and the confusion matrix — all of the
    gate set when the running model runs (or was started for the comparison),
    else the images it was scored on before. ``replaces`` is the active version
    the candidate would replace (``None`` only before the first deployment);
    ``incumbent`` is ``None`` when there is none or it could not be scored on the
    candidate's images. A gate set that lacks a label, or has fewer than
    Minimum-Gate-Set-Images-Per-Label images of one, never reaches the policies:
    the candidate is refused. Deploying takes a yes both times. Return ``None``
    to let the next policy decide.
    """


@hookspec(firstresult=True)
def inference_capacity(candidate: Evaluation, settings: Settings) -> InferenceCapacity | None:
    """How many inference units to start a version with (and the autoscaling ceiling).

    Called when a version is about to be started (deployment or rollback).
    A running model bills per unit per hour. Return ``None`` to let the next
    policy decide.
    """


@hookspec(firstresult=True)
def label_decision(review: ReviewResult, settings: Settings) -> LabelDecision | None:
    """Does this human answer become training data, and under which label?

    Called once per finished human loop whose output is well-formed, and in
    the builtin review app whenever a task has the answers it waits for. The
    answers may be several and may disagree; ``review.label_set`` is the
    stack's labels. An accepted label must be one of them. Not accepting, a
    policy may ask for ``more`` answers (``LabelDecision(False, reason,
    more=1)``): the builtin review app asks other reviewers up to
    ``review.maximum_answers`` answers in all; a review that cannot have them
    (at the maximum, or in A2I, where ``maximum_answers`` is ``None``) is
    closed as unresolved. Return ``None`` to let the next policy decide.
    """


@hookspec(firstresult=True)
def serving_decision(serving: Serving, settings: Settings) -> ServingDecision | None:
    """Should the active model run now: start it, stop it, or keep it as it is?

    A running model bills per inference unit per hour, idle or not; starting one takes minutes,
    and the images that arrive meanwhile wait (pending) and are detected, in arrival order, once it
    runs. Asked on the serving schedule (every few minutes) and when an image arrives while the
    model does not run. ``serving`` has the model's state and since when, the detections, and the
    images waiting. Whatever a policy answers, a stop is refused while a lifecycle run trains or
    deploys, and a start while it deploys (the reason is recorded). Return ``None`` to let the
    next policy decide.
    """


@hookspec
def loop_event(event: LoopEvent) -> None:
    """Observe something that happened in the loop (for notifications, metrics, audit logs).

    Every plugin is called; return values are ignored and an exception in one
    observer is logged without stopping the loop or the other observers.
    """
