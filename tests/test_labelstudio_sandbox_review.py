"""``labelloop review --sandbox DIR`` on a run made with ``--review labelstudio``: a person labels in Label
Studio's own UI. The review server serves the stack's two Label Studio routes, so the image link a task
holds shows the image in a browser and Label Studio's webhook brings the annotation into the saved run."""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid
from urllib.parse import urlsplit

from lifecycle_support import PNG, seed, wait_for_detections

from handlers.labelstudio import backend, labeling
from handlers.labelstudio.client import LabelStudio
from handlers.runtime.state import Snapshot
from sandbox import saved
from sandbox.local_aws import LocalStack
from sandbox.review_backends import sandbox_backend
from sandbox.review_server import bind, review_sandbox, url_of
from sandbox.scripted_trainer import scripted_custom_labels

UNSURE = (("cat", 52.0), ("dog", 41.0))


def saved_labelstudio_run(label_studio, out) -> str:
    """A sandbox run reviewing in the session's Label Studio, saved with one review open; its project's title."""
    models = scripted_custom_labels()
    models.trainer.seed, models.trainer.side = 0, 8  # what a saved run records of its trainer
    title = f"labelloop-{uuid.uuid4().hex[:10]}"
    with LocalStack(labels=("cat", "dog"), standins={"rekognition": models}, review="labelstudio",
                    containers="per_invocation", stack="lsreview") as stack:  # each function cold, as on AWS
        stack.configure(**sandbox_backend("labelstudio").settings(stack.naming, url=label_studio.url, project=title))
        backend.reset()  # the settings an earlier stack's functions cached
        seed(stack, {"cat": 6, "dog": 6})
        assert stack.run_lifecycle()["status"] == "SUCCEEDED"
        models.trainer.by_key["images_for_detection/unsure.png"] = UNSURE
        stack.client("s3").put_object(Bucket=stack.bucket, Key="images_for_detection/unsure.png", Body=PNG + b"unsure")
        stack.pump()
        wait_for_detections(stack)
        saved.save(stack, out, truth={}, options={"review": "labelstudio"}, model_service=models)
    return title


def reviews(folder) -> dict:
    return {r.image_uri.rsplit("/", 1)[1]: r for r in Snapshot.of(saved.load_state(folder)["items"]).reviews}


def test_a_person_labels_a_saved_run_in_label_studios_ui_and_the_answer_reaches_the_run(label_studio, tmp_path):
    out = tmp_path / "run"
    title = saved_labelstudio_run(label_studio, out)
    assert reviews(out)["unsure.png"].status == "open"
    server, ready, apps = bind("127.0.0.1", 0), threading.Event(), []
    serving = threading.Thread(target=review_sandbox, args=(out,), daemon=True, kwargs={
        "server": server, "on_ready": lambda _, app: apps.append(app) or ready.set()})
    serving.start()
    try:
        assert ready.wait(120), "the review server did not start"
        ls = LabelStudio(label_studio.url, label_studio.token)
        project = ls.project(title, ("cat", "dog"), create=False)["id"]
        told = apps[0].own_routes.instructions(out)  # what `labelloop review` prints: where the person goes
        assert f"Label in Label Studio: {label_studio.url}/projects/{project}/data (project {title!r}" in told
        [task] = ls.tasks(project)
        link = task["data"][labeling.IMAGE]
        assert urlsplit(link).netloc == urlsplit(url_of(server)).netloc  # the task's link points at the server
        with urllib.request.urlopen(link, timeout=30) as shown:  # as the browser showing the task loads it
            assert (shown.status, shown.read()) == (200, PNG + b"unsure")
        ls.annotate(task["id"], "dog")  # a person's submit in Label Studio's UI
        deadline = time.monotonic() + 60
        while reviews(out)["unsure.png"].status == "open" and time.monotonic() < deadline:
            time.sleep(0.2)  # the webhook's answer is journaled into the run before it is acknowledged
        accepted = reviews(out)["unsure.png"]
        assert (accepted.status, (accepted.result or {}).get("label")) == ("accepted", "dog")  # by the webhook
    finally:
        server.shutdown()
        serving.join(120)
    assert not serving.is_alive()
    assert reviews(out)["unsure.png"].result["training_key"].startswith("images_labeled_by_folder/dog/")
