"""The regions a stack may live in: the one list (components/regions.py), the program's refusal of
any other region before it creates anything, and the deploy guide's copy of the list."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
import pulumi_mocks

from components.config import RegionError, check_region
from components.regions import CUSTOM_LABELS_REGIONS, READ_ON, SOURCE, offers_custom_labels

ROOT = Path(__file__).resolve().parents[1]


def test_the_list_names_its_source_and_date():
    assert SOURCE.startswith("https://docs.aws.amazon.com/") and re.fullmatch(r"\d{4}-\d{2}-\d{2}", READ_ON)
    assert all(re.fullmatch(r"[a-z]{2}-[a-z]+-\d", code) for code in CUSTOM_LABELS_REGIONS)
    assert offers_custom_labels("eu-west-1") and not offers_custom_labels("ca-central-1")


@pytest.mark.parametrize("region", ["ca-central-1", "sa-east-1", "us-west-1"])  # Rekognition, not Custom Labels
def test_a_region_without_custom_labels_is_refused_with_the_fix(region):
    with pytest.raises(RegionError) as refused:
        check_region(region)
    message = str(refused.value)
    assert f"region {region} does not offer Rekognition Custom Labels" in message
    assert "pulumi config set aws:region eu-west-1" in message and READ_ON in message
    check_region("eu-central-1")
    check_region(None)  # no region at all: the provider says so itself


def test_the_program_refuses_the_region_before_creating_anything(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    with pytest.raises(Exception) as refused:
        pulumi_mocks.run(lambda: runpy.run_path(str(pulumi_mocks.PROGRAM), run_name="__main__"),
                         pulumi_mocks.BUILTIN_SMALL)
    assert "does not offer Rekognition Custom Labels" in str(refused.value)
    assert not [r for r in pulumi_mocks.MOCKS.resources.values() if r.custom]


def test_the_deploy_guide_lists_exactly_these_regions():
    guide = (ROOT / "docs" / "deploying.md").read_text()
    listed = guide.split("<!-- regions:start -->", 1)[1].split("<!-- regions:end -->", 1)[0]
    assert re.findall(r"`([a-z]{2}-[a-z]+-\d)`", listed) == list(CUSTOM_LABELS_REGIONS)
    assert READ_ON in listed and SOURCE.split("#")[0] in listed
