"""How much each field of an event says about a person: its data class.

Every field of every event contract is one of:
- `identifying`: who the patient is (names, date of birth, contact, the referrer);
- `free_text`: what staff wrote in their own words (notes, rationales, intentions, themes), which
  may say anything about the patient;
- `plain`: scores, codes, times, ids: the clinical facts, pseudonymous by the patient id.

Fields are marked where they are declared (`Field(json_schema_extra=IDENTIFYING)`); a field not
marked is plain. The published JSON Schemas and the AsyncAPI document carry the class of every
property under the annotation keyword `x-carepath-data`, so subscribers in any language know what
they receive. (Identifying and free-text fields are the ones to protect: see issue "crypto-
shredding" for their encryption per patient.)
"""

from enum import StrEnum
from typing import Any

from pydantic import BaseModel

DATA_CLASS_KEYWORD = "x-carepath-data"
"""The JSON Schema annotation keyword holding a property's data class."""


class DataClass(StrEnum):
    """How much a field says about a person."""

    IDENTIFYING = "identifying"
    FREE_TEXT = "free_text"
    PLAIN = "plain"


IDENTIFYING: dict[str, Any] = {DATA_CLASS_KEYWORD: DataClass.IDENTIFYING.value}
"""`json_schema_extra` of a field that identifies the patient."""
FREE_TEXT: dict[str, Any] = {DATA_CLASS_KEYWORD: DataClass.FREE_TEXT.value}
"""`json_schema_extra` of a field of staff's free text."""


def data_class(model: type[BaseModel], field_name: str) -> DataClass:
    """The data class of one field of `model` (unmarked: plain)."""
    extra = model.model_fields[field_name].json_schema_extra
    marked = extra.get(DATA_CLASS_KEYWORD) if isinstance(extra, dict) else None
    return DataClass(marked) if isinstance(marked, str) else DataClass.PLAIN


def protected_fields(model: type[BaseModel]) -> dict[str, DataClass]:
    """The top-level fields of `model` that are identifying or free text."""
    return {
        name: found
        for name in model.model_fields
        if (found := data_class(model, name)) is not DataClass.PLAIN
    }


def mark_plain_properties(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every property of `schema` (and of its `$defs`) that carries no data class the class
    `plain`, so that a published schema states the class of every field; returns `schema`."""
    for node in (schema, *schema.get("$defs", {}).values()):
        for prop in node.get("properties", {}).values():
            prop.setdefault(DATA_CLASS_KEYWORD, DataClass.PLAIN.value)
    return schema
