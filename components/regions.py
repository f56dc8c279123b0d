"""The AWS regions that offer Amazon Rekognition Custom Labels: the one list the Pulumi program
(which refuses any other region before creating anything) and ``labelloop doctor`` check against.

Custom Labels is a subset of Rekognition's regions. The list is the AWS General Reference's section
"Amazon Rekognition Custom Labels" of :data:`SOURCE`, as read on :data:`READ_ON`; when AWS adds a
region, add it here (and to the region list in docs/deploying.md, which a test keeps in step).
"""

from __future__ import annotations

SOURCE = "https://docs.aws.amazon.com/general/latest/gr/rekognition.html#endpoints-custom-labels"
READ_ON = "2026-12-07"

# Region code -> the name AWS gives it, in the order of the source.
CUSTOM_LABELS_REGIONS = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "Europe (Ireland)",
    "eu-west-2": "Europe (London)",
    "eu-central-1": "Europe (Frankfurt)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
}


def offers_custom_labels(region: str) -> bool:
    return region in CUSTOM_LABELS_REGIONS


def region_problem(region: str) -> str | None:
    """Why a stack cannot live in ``region``, with the fix; None when it can."""
    if offers_custom_labels(region):
        return None
    return (f"region {region} does not offer Rekognition Custom Labels (AWS lists {len(CUSTOM_LABELS_REGIONS)} "
            f"regions, read {READ_ON} from {SOURCE}); choose one of {', '.join(CUSTOM_LABELS_REGIONS)}, e.g. "
            "`pulumi config set aws:region eu-west-1`. If AWS has added the region since, add it to "
            "components/regions.py")
