"""Reads of the ingest app: the importable kinds and the mapping profiles shipped for them."""

from .imports import available_mappings, mapping_resolve
from .kinds import IMPORT_KINDS, ImportKind
from .uploads import kind_choices, mapping_choices, upload_dir

__all__ = [
    "IMPORT_KINDS",
    "ImportKind",
    "available_mappings",
    "kind_choices",
    "mapping_choices",
    "mapping_resolve",
    "upload_dir",
]
