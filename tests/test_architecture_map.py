"""docs/architecture.md's module map and "where a change goes" table stay in step with the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("plugins", "policies", "handlers", "components", "sandbox", "cli")


def section(title: str) -> str:
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert f"\n## {title}\n" in text, f"docs/architecture.md has no '## {title}' section"
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def tree() -> set[str]:
    """Every module (``cli/main.py``) and package (``handlers/runtime/``) under the packages."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            found.add(relative[: -len("__init__.py")] if path.name == "__init__.py" else relative)
    return found


def mapped() -> set[str]:
    """The first column of the module map."""
    return set(re.findall(r"^\| `([^`]+)` \|", section("Module map"), flags=re.MULTILINE))


def test_every_module_and_package_is_in_the_map():
    missing = sorted(tree() - mapped())
    assert not missing, f"add to the module map of docs/architecture.md, with what each owns: {missing}"


def test_the_map_names_only_what_exists():
    gone = sorted(name for name in mapped() if not (ROOT / name).exists())
    assert not gone, f"the module map of docs/architecture.md names what is not in the tree: {gone}"


def test_where_a_change_goes_names_real_files():
    table = section("Where a change goes")
    changes = re.findall(r"^\| (A [^|]+?) \|", table, flags=re.MULTILINE)
    for change in ("A new hook", "A new stage", "A new event source", "A new CLI command", "A new review backend",
                   "A new stand-in"):
        assert any(c.startswith(change) for c in changes), change
    # Paths with a placeholder (`handlers/<stage>.py`) name a file to create; every other one must exist.
    paths = {p for p in re.findall(r"`([\w./<>-]+\.(?:py|md))`", table) if "<" not in p}
    assert len(paths) >= 30
    assert not sorted(p for p in paths if not (ROOT / p).exists())
