"""Meta-tests: every hook is tested and documented with its exact signature."""

import inspect
import re
from pathlib import Path

from plugins import hookspecs
from plugins.decisions import (DeploymentDecision, InferenceCapacity, LabelDecision, ReviewDecision, ServingDecision,
                               TrainingDecision)
from plugins.manager import DECISION_HOOKS

ROOT = Path(__file__).resolve().parent.parent
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "labelloop_spec")]


def signature(name: str) -> str:
    return f"{name}{inspect.signature(getattr(hookspecs, name))}".replace("'", "")


def test_the_hooks_of_the_design_exist():
    assert set(HOOKS) == {"labelloop_parameters", "loop_event", *DECISION_HOOKS}


def test_the_decision_hooks_are_the_firstresult_specs_with_their_annotated_decisions():
    assert list(DECISION_HOOKS.items()) == [  # in the specs' order: the order policies are listed in
        ("review_decision", ReviewDecision), ("training_decision", TrainingDecision),
        ("deployment_decision", DeploymentDecision), ("inference_capacity", InferenceCapacity),
        ("label_decision", LabelDecision), ("serving_decision", ServingDecision)]
    assert all(getattr(hookspecs, h).labelloop_spec["firstresult"] for h in DECISION_HOOKS)
    assert not any(getattr(hookspecs, h).labelloop_spec["firstresult"] for h in ("labelloop_parameters", "loop_event"))


def test_every_hook_is_documented_with_its_exact_signature():
    docs = (ROOT / "docs" / "hooks.md").read_text()
    missing = [signature(h) for h in HOOKS if f"`{signature(h)}`" not in docs]
    assert not missing, f"document these hooks in docs/hooks.md: {missing}"


def test_every_hook_has_a_docstring_saying_what_none_means():
    for name in HOOKS:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert doc and ("None" in doc or name == "loop_event"), name


def test_every_hook_has_a_test():
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    untested = [h for h in HOOKS if not re.search(rf"def test_hook_{h}\w*\(", tests)]
    assert not untested, f"add a test named test_hook_<hook>_… for: {untested}"
