"""`object:` -> its target (as dbt-core's RUNNER_MAP maps a node type to its runner): the one
module that knows every target, and the one that tells a spec's target."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..errors import UsageError
from .base import Target, TargetSpec
from .events import EVENTS
from .metadata import METADATA
from .parent_accounts import PARENT_ACCOUNTS
from .segments import SEGMENTS

DEFAULT = METADATA  # validates a block whose object is missing or unknown (its schema says which)
_BY_OBJECT: dict[str, Target] = {}


def register(target: Target) -> None:
    """Make a target take the blocks of its objects."""
    for name in target.objects:
        if name in _BY_OBJECT and _BY_OBJECT[name] is not target:
            raise UsageError(f"object '{name}' already has a target")
        _BY_OBJECT[name] = target


def unregister(target: Target) -> None:
    """Take a registered target out."""
    for name in target.objects:
        if _BY_OBJECT.get(name) is target:
            del _BY_OBJECT[name]


@contextmanager
def registered(target: Target) -> Iterator[Target]:
    """A target registered for the block's duration."""
    register(target)
    try:
        yield target
    finally:
        unregister(target)


def for_block(block: Any) -> Target:
    """The target whose schema validates a block (the default one when its object is unknown)."""
    kind = block.get("object") if isinstance(block, Mapping) else None
    return _BY_OBJECT.get(str(kind), DEFAULT)


def for_object(kind: str) -> Target | None:
    """The target of an `object:` value (None for one no target takes, e.g. a skipped model's)."""
    return _BY_OBJECT.get(kind)


def for_spec(spec: TargetSpec) -> Target:
    """The target that made a spec."""
    return _BY_OBJECT[spec.object]


def targets() -> list[Target]:
    """Every registered target, once each."""
    return list(dict.fromkeys(_BY_OBJECT.values()))


for _target in (METADATA, PARENT_ACCOUNTS, EVENTS, SEGMENTS):
    register(_target)
