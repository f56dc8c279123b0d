"""docs/architecture.md's module map and "where a change goes" table stay in step with the tree."""

from __future__ import annotations

import re
from pathlib import Path

from plugins import manager

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


def changes() -> dict[str, list[str]]:
    """The "where a change goes" table as data: each change (its first column) -> the paths its files
    column names (`handlers/<stage>.py` names a file to create, one per stage)."""
    rows = re.findall(r"^\| (A [^|]+?) \| (.+) \|$", section("Where a change goes"), flags=re.MULTILINE)
    return {change: re.findall(r"`([\w./<>-]+\.(?:py|md))`", files) for change, files in rows}


def listed(paths: list[str], path: str) -> bool:
    """Whether ``path`` is one of ``paths``, or matches one with a placeholder (`<concern>`)."""
    return any(re.fullmatch(re.sub(r"<[^>]+>", "[^/]+", re.escape(p)), path) for p in paths)


def mentioning(word: str, files) -> set[str]:
    return {f for f in files if re.search(rf"\b{word}\b", (ROOT / f).read_text())}


def test_the_hook_row_lists_every_file_an_existing_hook_touches():
    """What each hook reaches outside the handler that asks it and the policies that answer it otherwise
    (its name or its decision in the engine and the default policy, its record and `status`), a new hook
    reaches too: the row lists each of those files."""
    [row] = [paths for change, paths in changes().items() if change.startswith("A new hook")]
    engine = [f.relative_to(ROOT).as_posix() for f in (ROOT / "plugins").glob("*.py")]
    engine += ["policies/defaults.py", "docs/hooks.md"]
    recorded = [f.relative_to(ROOT).as_posix() for d in ("handlers/runtime/state", "cli") for f in (ROOT / d).glob("*.py")]
    seen_recorded = False
    for hook, decision in manager.DECISION_HOOKS.items():
        touched = mentioning(hook, engine) | mentioning(decision.__name__, engine) | mentioning(f"last_{hook}", recorded)
        seen_recorded |= bool(mentioning(f"last_{hook}", recorded))
        missing = sorted(f for f in touched if not listed(row, f))
        assert not missing, f"the hook row of docs/architecture.md misses what {hook} touches: {missing}"
    assert seen_recorded  # at least one decision is recorded, so the recorded part is checked


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
