"""The operator parameter catalog: the one source of truth for every parameter's
type, default, bounds and description.

The Pulumi program creates an SSM parameter per entry (with :attr:`ParameterSpec.allowed_pattern`,
so Parameter Store itself refuses most bad values); handlers parse what they read
with :meth:`ParameterSpec.parse`; the CLI validates before it writes.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Literal, Mapping

from .facts import PURPOSES

Kind = Literal["bool", "int", "float", "thresholds"]

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
# A parameter value cannot be empty in Parameter Store, so an empty mapping is spelled "none".
EMPTY_THRESHOLDS = "none"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

_INT = re.compile(r"^[+-]?[0-9]+$")
_FLOAT = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")


class InvalidParameterValue(ValueError):
    """A value that does not parse or is out of bounds. The message names the
    parameter, the value and what is allowed."""

    def __init__(self, name: str, value: str, allowed: str):
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"{name}: {value!r} is not allowed; expected {allowed}")


class CatalogError(ValueError):
    """The catalog itself is wrong: two plugins define the same parameter, or a spec is inconsistent."""


# The decisions a switch can bind: hook -> (the decision's yes, what its refusal says, what the overruled
# policy did). Each such decision is ``Decision(yes: bool, reason, …)``.
SWITCHABLE: Mapping[str, tuple[str, str, str]] = MappingProxyType({
    "review_decision": ("review", "no review", "asked for one"),
    "training_decision": ("train", "no training", "asked for one"),
    "deployment_decision": ("deploy", "no deployment", "asked for one"),
    "label_decision": ("accept", "the answer is not used", "accepted it"),
})


@dataclass(frozen=True)
class Switch:
    """What a bool parameter binds while it is false: every yes to ``decision`` (a hook name), whatever
    policy gives it, becomes a no, decided by the switch. ``purpose``: only reviews for this purpose
    (``review_decision``). ``binds_requests``: False leaves an operator's explicit request alone (a
    ``labelloop train``: ``training_decision``), so the switch binds only what the loop does by itself."""

    decision: str
    purpose: str | None = None
    binds_requests: bool = True

    def __post_init__(self) -> None:
        if self.decision not in SWITCHABLE:
            raise CatalogError(f"a switch binds one of {', '.join(SWITCHABLE)}, not {self.decision!r}")
        if self.purpose is not None and self.decision != "review_decision":
            raise CatalogError(f"only a review switch is limited to a purpose; {self.decision} has none")
        if self.purpose is not None and self.purpose not in PURPOSES:
            raise CatalogError(f"a review switch's purpose is {' or '.join(PURPOSES)}, not {self.purpose!r}")

    def binds(self, decision: Any, requested: bool) -> bool:
        """Whether this switch, off, refuses ``decision`` (a yes of its hook)."""
        return ((self.purpose is None or getattr(decision, "purpose", None) == self.purpose)
                and (self.binds_requests or not requested))


@dataclass(frozen=True)
class ParameterSpec:
    """One operator parameter.

    ``minimum``/``maximum`` bound numbers (inclusive); for ``thresholds`` (a
    ``label=confidence, …`` mapping) they bound each confidence. ``binds`` makes a bool parameter an
    operator's switch: while it is false, the engine refuses that decision whatever any policy answers.
    """

    name: str
    kind: Kind
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    owner: str = "policies.defaults"
    binds: Switch | None = None
    # The decision hooks whose policies read it: a function that asks only some decisions reads only their
    # parameters (the detection, only review_decision's: one call for up to ten). Empty: every function.
    hooks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise CatalogError(f"parameter name {self.name!r} must be 1-128 letters, digits, '_', '.' or '-'")
        if self.binds is not None and (self.kind != "bool" or not isinstance(self.binds, Switch)):
            raise CatalogError(f"{self.name}: only a bool parameter is a switch, with binds=Switch(…)")
        if self.kind not in ("bool", "int", "float", "thresholds"):
            raise CatalogError(f"{self.name}: unknown kind {self.kind!r}")
        if self.kind in ("int", "float", "thresholds") and (self.minimum is None or self.maximum is None):
            raise CatalogError(f"{self.name}: a {self.kind} parameter needs a minimum and a maximum")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise CatalogError(f"{self.name}: minimum {self.minimum} is above maximum {self.maximum}")
        try:
            self.parse(self.format(self.default))
        except InvalidParameterValue as exc:
            raise CatalogError(f"{self.name}: the default is invalid: {exc.allowed}") from None

    # -- describing ------------------------------------------------------
    @property
    def allowed(self) -> str:
        """What is allowed, in words (used in every error message)."""
        if self.kind == "bool":
            return "true or false (also yes/no, on/off, 1/0, any case)"
        if self.kind == "int":
            return f"a whole number from {_num(self.minimum)} to {_num(self.maximum)}"
        if self.kind == "float":
            return f"a number from {_num(self.minimum)} to {_num(self.maximum)}"
        return (f"'{EMPTY_THRESHOLDS}' or label=confidence pairs separated by commas, "
                f"each confidence from {_num(self.minimum)} to {_num(self.maximum)} (e.g. 'cat=80, dog=65.5')")

    @property
    def allowed_pattern(self) -> str:
        """A regular expression Parameter Store enforces on writes.

        Exact for booleans and for whole-number bounds; for ``thresholds`` it
        checks the shape and the handlers check each bound.
        """
        if self.kind == "bool":
            words = "|".join(w for word in TRUE_WORDS + FALSE_WORDS for w in _cases(word))
            return f"^ *({words}) *$"
        if self.kind == "int":
            return f"^ *[+]?({_int_range_regex(int(self.minimum), int(self.maximum))}) *$"
        if self.kind == "float":
            return f"^ *[+]?({_float_range_regex(self.minimum, self.maximum)}) *$"
        pair = r"[^=,]+=[0-9]+(\.[0-9]+)?"
        return f"^ *({EMPTY_THRESHOLDS}|{pair}( *, *{pair})*) *$"

    # -- converting ------------------------------------------------------
    def parse(self, raw: str) -> Any:
        """Parse a Parameter Store string into a typed value, or raise InvalidParameterValue."""
        if not isinstance(raw, str):
            raise InvalidParameterValue(self.name, repr(raw), self.allowed)
        text = raw.strip()
        if self.kind == "bool":
            lowered = text.lower()
            if lowered in TRUE_WORDS:
                return True
            if lowered in FALSE_WORDS:
                return False
            raise InvalidParameterValue(self.name, raw, self.allowed)
        if self.kind == "thresholds":
            return self._parse_thresholds(raw, text)
        pattern = _INT if self.kind == "int" else _FLOAT
        if not pattern.match(text):
            raise InvalidParameterValue(self.name, raw, self.allowed)
        value = int(text) if self.kind == "int" else float(text)
        self._check_bounds(raw, value)
        return value

    def _check_bounds(self, raw: str, value: float) -> None:
        if not (self.minimum <= value <= self.maximum) or (isinstance(value, float) and not math.isfinite(value)):
            raise InvalidParameterValue(self.name, raw, self.allowed)

    def _parse_thresholds(self, raw: str, text: str) -> Mapping[str, float]:
        if text.lower() == EMPTY_THRESHOLDS:
            return MappingProxyType({})
        result: dict[str, float] = {}
        for part in text.split(","):
            label, sep, number = (p.strip() for p in part.partition("="))
            if not sep or not label or not _FLOAT.match(number) or label in result:
                raise InvalidParameterValue(self.name, raw, self.allowed)
            value = float(number)
            self._check_bounds(raw, value)
            result[label] = value
        return MappingProxyType(result)

    def check_labels(self, value: Any, labels: Iterable[str]) -> None:
        """A per-label value names only labels of ``labels`` (the stack's label set): a label it does not
        have would never match, and the value would change nothing. Raises InvalidParameterValue naming the
        closest label; nothing to check for other kinds, or when the label set is not known."""
        known = list(labels)
        if self.kind != "thresholds" or not known:
            return
        for label in (label for label in value if label not in known):
            close = difflib.get_close_matches(label, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidParameterValue(self.name, self.format(value), f"labels of the label set ({label!r} is not "
                                                                       f"one; {hint}the labels: {', '.join(known)})")

    def format(self, value: Any) -> str:
        """The Parameter Store string for a typed value (the inverse of :meth:`parse`)."""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "thresholds":
            return ", ".join(f"{k}={_num(v)}" for k, v in dict(value).items()) or EMPTY_THRESHOLDS
        return _num(value) if self.kind == "float" else str(int(value))


def _num(value: float | int | None) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    return str(value)


def _cases(word: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((word, word.capitalize(), word.upper())))


# -- range → regex --------------------------------------------------------
def _int_range_regex(lo: int, hi: int) -> str:
    """An alternation matching exactly the decimal integers lo..hi (lo >= 0), no leading zeros."""
    if lo < 0:
        raise CatalogError("negative bounds are not supported by allowed_pattern")
    parts: list[str] = []
    for digits in range(len(str(lo)), len(str(hi)) + 1):
        start = max(lo, 10 ** (digits - 1) if digits > 1 else 0)
        end = min(hi, 10**digits - 1)
        if start <= end:
            parts.extend(_same_length_range(str(start), str(end)))
    return "|".join(parts)


def _same_length_range(lo: str, hi: str) -> list[str]:
    """Patterns for the numbers lo..hi of equal length, split on the first digit."""
    rest = len(lo) - 1
    tail = f"[0-9]{{{rest}}}" if rest > 1 else "[0-9]" * rest
    if lo == hi:
        return [lo]
    if lo[1:] == "0" * rest and hi[1:] == "9" * rest:
        return [(lo[0] if lo[0] == hi[0] else f"[{lo[0]}-{hi[0]}]") + tail]
    if lo[0] == hi[0]:
        return [lo[0] + p for p in _same_length_range(lo[1:], hi[1:])]
    first, last = int(lo[0]), int(hi[0])
    parts: list[str] = []
    if lo[1:] != "0" * rest:
        parts.extend(lo[0] + p for p in _same_length_range(lo[1:], "9" * rest))
        first += 1
    high = [] if hi[1:] == "9" * rest else [hi[0] + p for p in _same_length_range("0" * rest, hi[1:])]
    last -= 1 if high else 0
    if first <= last:
        parts.append((str(first) if first == last else f"[{first}-{last}]") + tail)
    return parts + high


def _float_range_regex(lo: float, hi: float) -> str:
    """Decimals from lo to hi: exact when both bounds are whole numbers, else
    bounded by their whole parts (the handler checks the rest)."""
    low, high = math.floor(lo), math.ceil(hi)
    frac = r"(\.[0-9]*)?"
    parts = []
    if low <= high - 1:
        parts.append(f"({_int_range_regex(low, high - 1)}){frac}")
    parts.append(f"{high}(\\.0*)?" if float(hi).is_integer() else f"{high}{frac}")
    if low == 0:
        parts.append(r"\.[0-9]+")
    return "|".join(parts)


# -- the review tasks' parameters ------------------------------------------------
# The builtin review app's tasks: read by the runtime (opening, serving and closing tasks) as well as by
# policies, so their names live here, beside the catalog; the default policy contributes them.
REVIEWERS_PER_IMAGE = "Reviewers-Per-Image"
MAX_REVIEWERS = "Maximum-Reviewers-Per-Image"
TASK_LIFETIME_HOURS = "Review-Task-Lifetime-Hours"
LEASE_MINUTES = "Review-Lease-Minutes"
REVIEW_TASK_PARAMETERS = (
    ParameterSpec(REVIEWERS_PER_IMAGE, "int", 1, "Answers from distinct reviewers a review task of the builtin "
                  "review app needs before the label decision (unless the review decision asks for another number).",
                  1, 10),
    ParameterSpec(MAX_REVIEWERS, "int", 3, "Most answers a review task of the builtin review app may ask for when "
                  "its reviewers disagree; still undecided then, it is closed as unresolved.", 1, 10),
    ParameterSpec(TASK_LIFETIME_HOURS, "int", 240, "Hours a review task of the builtin review app waits for its "
                  "answers before it expires (240: ten days, as an A2I human loop).", 1, 2160),
    ParameterSpec(LEASE_MINUTES, "int", 10, "Minutes a review task of the builtin review app stays with the reviewer "
                  "it was served to before another reviewer may be served it.", 1, 240),
)


# The gate set's rule, which the engine applies to every deployment decision measured on a gate set
# (a policy cannot overrule it: figures on too few images of a label say nothing about that label).
GATE_SET_MINIMUM = "Minimum-Gate-Set-Images-Per-Label"
GATE_SET_PARAMETER = ParameterSpec(
    GATE_SET_MINIMUM, "int", 5, "Gate-set images (images_for_testing/<label>/) every label needs before the gate "
    "set may decide a deployment; with fewer, or none, of a label, candidates are refused until they are added.",
    1, 100_000, hooks=("deployment_decision",))


# -- the catalog ------------------------------------------------------------
@dataclass(frozen=True)
class Catalog:
    """All parameters of a stack: the defaults' and those contributed by plugins."""

    specs: Mapping[str, ParameterSpec] = field(default_factory=dict)

    @classmethod
    def merge(cls, contributions: Iterable[tuple[str, Iterable[ParameterSpec]]]) -> "Catalog":
        """Merge each plugin's parameters; two plugins defining one name is an error."""
        specs: dict[str, ParameterSpec] = {}
        for owner, entries in contributions:
            for spec in entries or ():
                if not isinstance(spec, ParameterSpec):
                    raise CatalogError(f"{owner} returned {spec!r} from labelloop_parameters; expected ParameterSpec")
                spec = spec if spec.owner == owner else replace(spec, owner=owner)
                if spec.name in specs:
                    raise CatalogError(
                        f"parameter {spec.name!r} is defined by both {specs[spec.name].owner} and {owner}; "
                        "rename one of them (parameter names are shared by all policies of a stack)"
                    )
                specs[spec.name] = spec
        return cls(MappingProxyType(dict(sorted(specs.items()))))

    def __iter__(self) -> Iterator[ParameterSpec]:
        return iter(self.specs.values())

    def scope(self, hook: str) -> "Catalog":
        """The parameters a function that asks only ``hook`` reads: those of that hook and those of every hook."""
        return Catalog(MappingProxyType({n: s for n, s in self.specs.items() if not s.hooks or hook in s.hooks}))

    def __len__(self) -> int:
        return len(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def __getitem__(self, name: str) -> ParameterSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise KeyError(f"unknown parameter {name!r}; known: {', '.join(self.specs)}") from None

    def switches(self, decision: str | None = None) -> list[ParameterSpec]:
        """The switches that bind ``decision`` (a hook name; None: every switch), in name order."""
        return [spec for spec in self if spec.binds is not None and decision in (None, spec.binds.decision)]

    def defaults(self, overrides: Mapping[str, Any] | None = None) -> "Settings":
        """Settings with every default, optionally overridden (strings are parsed, values checked)."""
        values = {spec.name: spec.default for spec in self}
        for name, value in (overrides or {}).items():
            spec = self[name]
            values[name] = spec.parse(value if isinstance(value, str) else spec.format(value))
        return Settings(values)

    def read(self, raw: Mapping[str, str], fallback: "Settings | None" = None) -> tuple["Settings", list[InvalidParameterValue]]:
        """Parse raw Parameter Store strings. A missing (deleted) value is the default — what a
        fresh container, which knows no earlier value, uses too; an invalid value falls back to
        ``fallback`` (the last good value) or the default. The problems are returned."""
        base = fallback or self.defaults()
        values, problems = {}, []
        for spec in self:
            if spec.name not in raw:
                values[spec.name] = spec.default
                continue
            try:
                values[spec.name] = spec.parse(raw[spec.name])
            except InvalidParameterValue as exc:
                problems.append(exc)
                values[spec.name] = base.get(spec.name, spec.default)
        return Settings(values), problems


class Settings(Mapping[str, Any]):
    """Typed parameter values by name, read-only. What policies receive."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = dict(values)

    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(f"no parameter {name!r} in these settings; is the policy that defines it loaded?") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Settings({self._values!r})"

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some values changed (keys may use '_' for '-')."""
        values = dict(self._values)
        for key, value in changes.items():
            values[key if key in values else key.replace("_", "-")] = value
        return Settings(values)
