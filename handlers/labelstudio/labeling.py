"""The Label Studio project's labelling config: an image and one single choice per label of the stack,
plus "None of the Above". The stack's labels are the truth; a project whose choices differ is refused
with the difference named, never edited behind its team's back (their annotations were made with it).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Mapping, Sequence
from xml.sax.saxutils import quoteattr

from plugins import NONE_OF_THE_ABOVE

IMAGE = "image"  # the task data field holding the image URL, and the Image tag's name
CHOICES = "label"  # the Choices tag's name: an annotation's result is read from it
REVIEW_FIELD = "labelloop_review"  # the task data field naming the labelloop review (one task per review)


class ConfigMismatch(Exception):
    """The project's labelling config does not offer exactly the stack's labels; the message says which
    differ and what to do."""


def label_config(labels: Sequence[str]) -> str:
    """The labelling config of a stack with ``labels``."""
    choices = "\n".join(f"    <Choice value={quoteattr(value)}/>" for value in (*labels, NONE_OF_THE_ABOVE))
    return (f'<View>\n  <Image name="{IMAGE}" value="${IMAGE}" zoom="true"/>\n'
            f'  <Header value="Which label fits this image best?"/>\n'
            f'  <Choices name="{CHOICES}" toName="{IMAGE}" choice="single" showInline="true" required="true">\n'
            f"{choices}\n  </Choices>\n</View>")


def config_choices(config: str) -> tuple[str, ...]:
    """The values of the labelloop Choices tag of a labelling config, in order."""
    try:
        root = ET.fromstring(config)
    except ET.ParseError as exc:
        raise ConfigMismatch(f"its labelling config is not XML ({exc})") from None
    for tag in root.iter("Choices"):
        if tag.get("name") == CHOICES:
            return tuple(choice.get("value", "") for choice in tag.iter("Choice"))
    raise ConfigMismatch(f'its labelling config has no <Choices name="{CHOICES}"> tag')


def check_config(project: str, config: str, labels: Sequence[str]) -> None:
    """Refuse a project whose labelling config does not offer exactly ``labels`` and None of the Above."""
    try:
        found = config_choices(config)
    except ConfigMismatch as exc:
        raise ConfigMismatch(f"Label Studio project {project!r}: {exc}. Fix: use a project labelloop created, "
                             "or another project name (labelloop:labelStudioProject)") from None
    wanted = (*labels, NONE_OF_THE_ABOVE)
    if set(found) == set(wanted) and len(found) == len(wanted):
        return
    missing, extra = [c for c in wanted if c not in found], [c for c in found if c not in wanted]
    parts = ([f"missing {missing}"] if missing else []) + ([f"not labels of the stack {extra}"] if extra else [])
    raise ConfigMismatch(
        f"Label Studio project {project!r} offers choices that differ from the stack's labels: {'; '.join(parts) or 'repeated choices'}. "
        "Fix: make its labelling config's choices the stack's labels and None of the Above (Settings > "
        "Labeling Interface), or name a new project in labelloop:labelStudioProject")


def answer_label(annotation: Mapping[str, Any]) -> str | None:
    """The choice an annotation made (None: skipped, or no choice in it)."""
    if annotation.get("was_cancelled"):
        return None
    for region in annotation.get("result") or ():
        if isinstance(region, Mapping) and region.get("from_name") == CHOICES and region.get("type") == "choices":
            chosen = (region.get("value") or {}).get("choices") or ()
            if len(chosen) == 1 and isinstance(chosen[0], str):
                return chosen[0]
    return None


def choice_result(label: str) -> list[dict[str, Any]]:
    """An annotation's (or a prediction's) result choosing ``label``."""
    return [{"from_name": CHOICES, "to_name": IMAGE, "type": "choices", "value": {"choices": [label]}}]
