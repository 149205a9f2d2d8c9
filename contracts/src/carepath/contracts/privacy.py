"""How much each field of an event says about a person: its data class.

Every field of every event contract is one of:
- `identifying`: who the patient is (names, date of birth, contact, the referrer);
- `free_text`: what staff wrote in their own words (notes, rationales, intentions, themes), which
  may say anything about the patient;
- `plain`: scores, codes, times, ids: the clinical facts, pseudonymous by the patient id.

Fields are marked where they are declared (`Field(json_schema_extra=IDENTIFYING)`); a field not
marked is plain. The published JSON Schemas and the AsyncAPI document carry the class of every
property under the annotation keyword `x-carepath-data`, so subscribers in any language know what
they receive.

Identifying and free-text fields are *sealed*: stored and sent as values encrypted with the
patient's own data key (AES-256-GCM; the chassis's `field_crypto`), so that destroying the key
erases them everywhere while the log stays verifiable (crypto-shredding). `stored_form` is the
model of that stored form, and the published schema; `x-carepath-sealed` marks a sealed property.
"""

from enum import StrEnum
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model

M = TypeVar("M", bound=BaseModel)

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


@cache
def protected_fields(model: type[BaseModel]) -> dict[str, DataClass]:
    """The top-level fields of `model` that are identifying or free text (do not modify)."""
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


# --- Sealing: the stored and wire form of the protected fields -----------------------------------

SEALED_KEYWORD = "x-carepath-sealed"
"""The JSON Schema annotation keyword of a property that travels encrypted: its token format."""
SEALED_FORMAT = "enc:v1"
SEALED_PATTERN = r"^enc:v1:[A-Za-z0-9_-]+={0,2}$"
"""A sealed value: `enc:v1:` and the base64url of nonce (12 bytes) | AES-256-GCM ciphertext."""

PROTECTED = "protected"
"""What a reader without the patient's key sees in place of a protected field."""
ERASED = "erased"
"""What every reader sees in place of a protected field once the patient's key is destroyed."""

SealedValue = Annotated[str, Field(pattern=SEALED_PATTERN, max_length=100_000)]


def is_sealed_value(value: object) -> bool:
    """True when `value` is a sealed (encrypted) field value."""
    return isinstance(value, str) and value.startswith(SEALED_FORMAT + ":")


def is_sealed(model: type[BaseModel]) -> bool:
    """True when the protected fields of `model` travel encrypted (its `sealed` class flag;
    a version from before sealing carries them in clear)."""
    return bool(getattr(model, "sealed", False)) and bool(protected_fields(model))


@cache
def stored_form(model: type[BaseModel]) -> type[BaseModel]:
    """The model of what is stored and sent for `model`: each protected field a sealed value
    (null where the field may be null), every plain field as it is. Its JSON Schema is the
    published schema; validating a stored payload against it checks the plain fields and the
    form of the sealed ones, without any key. (Validators written for the clear values are not
    part of it.)"""
    if not is_sealed(model):
        return model
    protected = protected_fields(model)
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in protected:
            fields[name] = (info.annotation, info)
            continue
        optional = not info.is_required()
        fields[name] = (
            SealedValue | None if optional else SealedValue,
            Field(
                default=None if optional else ...,
                description=f"{info.description or name} Sealed with the patient's data key "
                '(contracts/README.md, "Patient data").',
                json_schema_extra={
                    DATA_CLASS_KEYWORD: protected[name].value,
                    SEALED_KEYWORD: SEALED_FORMAT,
                },
            ),
        )
    stored: type[BaseModel] = create_model(
        model.__name__,
        __config__=model.model_config,
        __doc__=model.__doc__,
        __module__=model.__module__,
        **fields,
    )
    return stored


def masked(model: type[M], stored: BaseModel, mask: str = PROTECTED) -> M:
    """The event `model` read from its validated stored form without opening it: every sealed
    value replaced by `mask` (`[mask]` for a list field, null where no text fits)."""
    values = dict(stored)
    for name in protected_fields(model):
        if values.get(name) is not None:
            values[name] = _mask_for(model, name, mask)
    return model.model_construct(_fields_set=stored.model_fields_set, **values)


@cache
def _mask_for(model: type[BaseModel], name: str, mask: str) -> Any:
    adapter: TypeAdapter[Any] = TypeAdapter(model.model_fields[name].annotation or Any)
    candidates: tuple[object, ...] = (mask, [mask], [])
    for candidate in candidates:
        try:
            return adapter.validate_python(candidate)
        except ValidationError:
            continue
    return None
