"""LlamaIndex metadata filters as verirag's: all conditions must hold, each an equality or "in"."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilters

Filters = Union[Mapping[str, Any], MetadataFilters, None]


def verirag_filters(filters: Filters) -> Optional[dict[str, Any]]:
    """A mapping is verirag's own form (``{"doc_id": "a.md", "page": 3, "lang": ["en", "de"]}``) and is kept;
    MetadataFilters are translated when verirag can apply them (AND of EQ / IN), otherwise refused."""
    if filters is None or isinstance(filters, Mapping):
        return dict(filters) if filters else None
    if filters.condition not in (None, FilterCondition.AND):
        raise ValueError("verirag filters are all-must-hold: use FilterCondition.AND")
    translated: dict[str, Any] = {}
    for condition in filters.filters:
        if isinstance(condition, MetadataFilters):
            raise ValueError("verirag filters cannot nest: give one flat list of conditions")
        if condition.operator == FilterOperator.EQ:
            translated[condition.key] = condition.value
        elif condition.operator == FilterOperator.IN:
            translated[condition.key] = list(condition.value)
        else:
            raise ValueError(f"verirag filters match values (==, in); {condition.operator.value!r} on "
                             f"{condition.key!r} is not supported")
    return translated or None
