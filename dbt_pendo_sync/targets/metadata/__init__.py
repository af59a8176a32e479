"""Visitor and account metadata: the spec (spec.py), the records and their sender
(records.py), and the target that puts them together (target.py)."""

from .spec import ColumnRule, MetadataSpec
from .target import METADATA, MetadataTarget

__all__ = ["METADATA", "ColumnRule", "MetadataSpec", "MetadataTarget"]
