"""The Lambda code archive: built at ``pulumi up`` from this checkout and from the
program's own Python environment — nothing is downloaded.

It holds ``handlers/``, ``plugins/``, ``policies/``, the team policy modules the
stack config names, and the runtime dependencies of ``pyproject.toml``
(``pluggy``, ``aws-lambda-powertools`` and what they require) copied from the
installed distributions. boto3 and botocore are left out: the Lambda Python
runtime provides them. Every bundled dependency must be pure Python, since the
archive runs on another machine (and maybe another architecture).

``archive_files`` is pure (a mapping of archive path → file); ``lambda_archive``
wraps it in a ``pulumi.AssetArchive``, which Pulumi zips deterministically, so
an unchanged checkout never updates a function.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import json
import tomllib
from functools import cache
from pathlib import Path
from typing import Iterable, Mapping

from handlers.runtime.config import LABELS_FILE

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGES = ("handlers", "plugins", "policies")
# Provided by the Lambda Python runtime (and only needed through boto3).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six"})
LAMBDA_PYTHON = "3.13"
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# Of a distribution's metadata folder only what identifies it and its licence is kept.
KEPT_METADATA = ("METADATA", "WHEEL", "top_level.txt")


class PackagingError(RuntimeError):
    """The archive cannot be built; the message names the module or distribution and the fix."""


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _skipped(path: Path) -> bool:
    return "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo")


def _tree(directory: Path, prefix: str) -> dict[str, Path]:
    return {f"{prefix}/{p.relative_to(directory).as_posix()}": p
            for p in sorted(directory.rglob("*")) if p.is_file() and not _skipped(p.relative_to(directory))}


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The ``[project] dependencies`` of this project: what the functions import at run time."""
    with pyproject.open("rb") as handle:
        return list(tomllib.load(handle)["project"].get("dependencies", []))


def _marker_environment(architecture: str) -> dict[str, str]:
    return {"python_version": LAMBDA_PYTHON, "python_full_version": f"{LAMBDA_PYTHON}.0", "implementation_name":
            "cpython", "platform_python_implementation": "CPython", "sys_platform": "linux", "os_name": "posix",
            "platform_system": "Linux", "platform_machine": "aarch64" if architecture == "arm64" else "x86_64",
            "extra": ""}


def dependency_closure(requirements: Iterable[str], architecture: str = "arm64") -> list[str]:
    """Installed distributions needed by ``requirements`` (transitively, without extras),
    leaving out what the Lambda runtime provides. Sorted by normalized name."""
    from packaging.requirements import Requirement

    environment = _marker_environment(architecture)
    seen: dict[str, str] = {}
    pending = list(requirements)
    while pending:
        requirement = Requirement(pending.pop())
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        key = _normalize(requirement.name)
        if key in seen or key in RUNTIME_PROVIDED or key == "labelloop":
            continue
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise PackagingError(f"the functions need {requirement}, which is not installed in this environment; "
                                 "Fix: pip install -r requirements.txt in the program's virtualenv") from None
        if requirement.specifier and not requirement.specifier.contains(distribution.version, prereleases=True):
            raise PackagingError(f"the functions need {requirement} but {distribution.version} is installed; "
                                 "Fix: pip install -r requirements.txt in the program's virtualenv")
        seen[key] = distribution.metadata["Name"]
        pending.extend(distribution.requires or [])
    return [seen[k] for k in sorted(seen)]


def distribution_files(name: str) -> dict[str, Path]:
    """An installed distribution's files by their path in site-packages (its code and licence)."""
    distribution = metadata.distribution(name)
    files: dict[str, Path] = {}
    for entry in distribution.files or ():
        relative = Path(str(entry))
        if relative.parts[0] == ".." or _skipped(relative):
            continue  # scripts installed outside site-packages, bytecode
        if relative.parts[0].endswith(".dist-info") and not (
                relative.name in KEPT_METADATA or "licenses" in relative.parts or "LICENSE" in relative.name.upper()):
            continue
        if relative.suffix in COMPILED_SUFFIXES:
            raise PackagingError(f"{name} contains compiled code ({relative}), which cannot be bundled for Lambda "
                                 "from this machine; Fix: use a pure-Python alternative, or ship it as a Lambda layer")
        source = Path(str(distribution.locate_file(entry)))
        if source.is_file():
            files[relative.as_posix()] = source
    if not files:
        raise PackagingError(f"{name} has no files listed in its metadata; Fix: reinstall it with pip")
    return files


def policy_module_files(module: str) -> dict[str, Path]:
    """The files of a team policy module that is not part of this checkout."""
    top = module.split(".")[0]
    if top in SOURCE_PACKAGES:
        return {}
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise PackagingError(f"policy module {module!r} cannot be found to bundle; Fix: install it in the "
                             "program's virtualenv (pip install -e path/to/policy) or put it on PYTHONPATH")
    if spec.submodule_search_locations:  # a package (a namespace package may have several folders)
        files: dict[str, Path] = {}
        for location in spec.submodule_search_locations:
            files.update(_tree(Path(location), top))
        return files
    origin = Path(spec.origin or "")
    if origin.suffix != ".py":
        raise PackagingError(f"policy module {module!r} is not a Python source file ({spec.origin}); "
                             "Fix: a policy must be pure Python")
    return {origin.name: origin}


def _policy_requirements(module: str) -> list[str]:
    """The declared requirements of the distribution that installed a team policy module, if any."""
    names = metadata.packages_distributions().get(module.split(".")[0], [])
    requirements: list[str] = []
    for name in names:
        requirements.extend(metadata.distribution(name).requires or [])
    return requirements


@cache
def archive_files(policies: tuple[str, ...] = (), architecture: str = "arm64") -> Mapping[str, Path]:
    """Every file of the Lambda archive, by its path in the archive, sorted."""
    files: dict[str, Path] = {}
    for package in SOURCE_PACKAGES:
        files.update(_tree(ROOT / package, package))
    requirements = runtime_requirements()
    for module in policies:
        files.update(policy_module_files(module))
        requirements.extend(_policy_requirements(module))
    for name in dependency_closure(requirements, architecture):
        for path, source in distribution_files(name).items():
            files.setdefault(path, source)
    return dict(sorted(files.items()))


def lambda_archive(policies: tuple[str, ...] = (), architecture: str = "arm64", labels: tuple[str, ...] = ()):
    """The archive every function of the stack runs (one code bundle, one handler per function),
    with the stack's labels in ``LABELS_FILE``."""
    import pulumi

    assets = {path: pulumi.FileAsset(str(source)) for path, source in archive_files(tuple(policies), architecture).items()}
    assets[LABELS_FILE] = pulumi.StringAsset(json.dumps(list(labels)))
    return pulumi.AssetArchive(assets)
