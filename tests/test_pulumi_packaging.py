"""The Lambda archive: built from this checkout and the program's environment, complete
enough to run every handler with only what the Lambda runtime adds."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest

from components.functions import FUNCTIONS
from handlers.runtime.config import LABELS_FILE
from components.packaging import (RUNTIME_PROVIDED, PackagingError, archive_files, dependency_closure,
                                  distribution_files, policy_module_files)
from pulumi_mocks import DEFAULT, FULL, FUNCTION, PARAMETER, TEAM_POLICIES, function_name, run_program

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_the_archive_holds_the_code_and_the_pure_python_dependencies():
    files = archive_files()
    tops = {path.split("/")[0] for path in files}
    assert {"handlers", "plugins", "policies", "pluggy", "aws_lambda_powertools", "jmespath",
            "typing_extensions.py"} <= tops
    assert not {"boto3", "botocore", "s3transfer", "urllib3", "pulumi", "pulumi_aws", "moto", "components",
                "sandbox", "cli", "tests"} & tops
    assert not [p for p in files if "__pycache__" in p or p.endswith((".pyc", ".so", ".pyd"))]
    assert not [p for p in files if p.endswith(("RECORD", "INSTALLER", "entry_points.txt"))]
    for spec in FUNCTIONS.values():
        module = spec.handler.rpartition(".")[0]
        assert module.replace(".", "/") + ".py" in files, spec.handler
    assert all(source.is_file() for source in files.values())
    assert list(files) == sorted(files)


def test_dependencies_come_from_pyproject_without_what_lambda_provides():
    names = {n.lower().replace("_", "-") for n in dependency_closure(["pluggy==1.7.0", "boto3>=1", "aws-lambda-powertools"])}
    assert names == {"pluggy", "aws-lambda-powertools", "jmespath", "typing-extensions"}
    assert not names & RUNTIME_PROVIDED


def test_packaging_problems_name_the_fix():
    with pytest.raises(PackagingError, match="not installed.*Fix: pip install"):
        dependency_closure(["surely-not-an-installed-distribution"])
    with pytest.raises(PackagingError, match="but .* is installed"):
        dependency_closure(["pluggy<0.1"])
    with pytest.raises(PackagingError, match="cannot be found to bundle"):
        policy_module_files("surely_not_a_policy_module")
    with pytest.raises(PackagingError, match="compiled code"):
        distribution_files("pyyaml" if importlib.util.find_spec("yaml._yaml") else "grpcio")


def test_every_function_runs_the_one_archive():
    d = run_program(DEFAULT)
    codes = [f.inputs["code"] for f in d.of_type(FUNCTION)]
    assert all(isinstance(code, pulumi.AssetArchive) for code in codes)
    assert {tuple(sorted(code.assets)) for code in codes} == {tuple(sorted([*archive_files(), LABELS_FILE]))}
    assert json.loads(codes[0].assets[LABELS_FILE].text) == DEFAULT["labels"]
    assets = codes[0].assets
    assert all(isinstance(a, pulumi.FileAsset) and Path(a.path).is_file() for p, a in assets.items() if p != LABELS_FILE)
    checkout = Path(__file__).resolve().parent.parent
    assert Path(assets["handlers/detect.py"].path).resolve() == checkout / "handlers" / "detect.py"


def test_a_team_policy_is_bundled_listed_and_parameterized():
    d = run_program(FULL)
    detect = d.one(FUNCTION, name=function_name("detect"))
    files = detect.inputs["code"].assets
    assert "acme_min_per_label.py" in files and "policies/review_budget.py" in files
    assert "acme_min_per_label.py" not in run_program(DEFAULT).of_type(FUNCTION)[0].inputs["code"].assets
    assert detect.inputs["environment"]["variables"]["LABELLOOP_POLICIES"] == "policies.review_budget,acme_min_per_label"
    parameters = {p.inputs["name"]: p.inputs for p in d.of_type(PARAMETER)}
    assert parameters["/labelloop/test/Acme-Minimum-Images-Per-Label"]["value"] == "5"
    assert parameters["/labelloop/test/Maximum-Reviews-Per-Day"]["value"] == "40"
    assert parameters["/labelloop/test/Acme-Minimum-Images-Per-Label"]["description"].startswith("Fewest training")


def test_the_handlers_import_and_load_the_policies_from_the_archive_alone(tmp_path):
    """Unpack the archive next to just what the Lambda runtime provides (boto3 and its
    dependencies) and import every handler in a fresh interpreter without site-packages."""
    unpacked, provided = tmp_path / "task", tmp_path / "runtime"
    for path, source in archive_files(TEAM_POLICIES).items():
        (unpacked / path).parent.mkdir(parents=True, exist_ok=True)
        (unpacked / path).write_bytes(source.read_bytes())
    provided.mkdir()
    for module in ("boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six", "jmespath"):
        spec = importlib.util.find_spec(module)
        origin = Path(spec.submodule_search_locations[0]) if spec.submodule_search_locations else Path(spec.origin)
        (provided / origin.name).symlink_to(origin)
    script = f"""
import importlib, json, sys
sys.path[:0] = [{str(unpacked)!r}, {str(provided)!r}]
for module in {sorted({s.handler.rpartition('.')[0] for s in FUNCTIONS.values()})!r}:
    importlib.import_module(module)
from plugins import Engine
engine = Engine.load()
print(json.dumps({{"policies": engine.policies, "parameters": sorted(engine.catalog.specs),
                  "files": sorted({{m.__name__: getattr(m, "__file__", "") or ""
                                   for m in sys.modules.values()}}.items())}}))
"""
    env = {"PATH": os.environ.get("PATH", ""), "LABELLOOP_POLICIES": ",".join(TEAM_POLICIES),
           "AWS_DEFAULT_REGION": "eu-west-1", "POWERTOOLS_METRICS_NAMESPACE": "labelloop"}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout)
    assert set(loaded["policies"]) == {"policies.defaults", *TEAM_POLICIES}
    assert {"Acme-Minimum-Images-Per-Label", "Maximum-Reviews-Per-Day"} <= set(loaded["parameters"])
    ours = {name: file for name, file in loaded["files"]
            if name.split(".")[0] in ("handlers", "plugins", "policies", "pluggy", "aws_lambda_powertools",
                                      "acme_min_per_label")}
    assert ours and all(file.startswith(str(unpacked)) for file in ours.values())
