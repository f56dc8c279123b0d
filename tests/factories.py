"""Small builders of facts for tests."""

from plugins import Detection, LabelScore


def detection(*scores, reviews_today=0, **extra):
    """A Detection from (label, confidence) pairs."""
    return Detection(
        detection_id=extra.pop("detection_id", "d-1"),
        image_uri="s3://bucket/images_for_detection/x.png",
        model_version="v1",
        labels=tuple(LabelScore(n, c) for n, c in scores),
        reviews_today=reviews_today,
        **extra,
    )
