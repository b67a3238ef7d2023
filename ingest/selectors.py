"""Reads of the ingest app: the importable kinds and the mapping profiles shipped for them."""

from .editor import SEPARATOR, editor_initial, editor_targets
from .imports import AUTO, available_mappings, mapping_data, mapping_resolve
from .kinds import IMPORT_KINDS, ImportKind
from .uploads import kind_choices, mapping_choices, upload_columns, upload_dir

__all__ = [
    "AUTO",
    "IMPORT_KINDS",
    "SEPARATOR",
    "ImportKind",
    "available_mappings",
    "editor_initial",
    "editor_targets",
    "kind_choices",
    "mapping_choices",
    "mapping_data",
    "mapping_resolve",
    "upload_columns",
    "upload_dir",
]
