"""The field types of `myapp gen` (Phoenix's: `name:string`, `tags:array:string`, `status:enum:a:b`,
`product_id:references:products`, modifiers `:unique` and `:redact`), parsed once into `Field`s that
carry every piece of source the templates need: the column, the migration's column, the input type,
examples as a test, an API client and a person at a form would give them.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Final

import pydantic

# The kinds a field may have, in Phoenix's words.
SCALAR_KINDS: Final = (
    "string",
    "text",
    "integer",
    "float",
    "decimal",
    "boolean",
    "date",
    "time",
    "utc_datetime",
    "uuid",
    "map",
)
KINDS: Final = (*SCALAR_KINDS, "array", "enum", "references")
# An array holds one of these (an array of maps, enums or arrays is not a column type we offer).
ARRAY_KINDS: Final = (
    "string",
    "text",
    "integer",
    "float",
    "decimal",
    "boolean",
    "date",
    "time",
    "utc_datetime",
    "uuid",
)
MODIFIERS: Final = ("unique", "redact")
# Every generated schema has these: a field may not take their names.
RESERVED: Final = ("id", "user_id", "inserted_at", "updated_at")
IDENTIFIER: Final = re.compile(r"[a-z][a-z0-9_]*")
ENUM_VALUE: Final = re.compile(r"[a-z][a-z0-9_]*")
STRING_LENGTH: Final = 255
# Names a field may not take: the generated modules' annotations use them (`list[...]`, `uuid.UUID`,
# `datetime.date`), and pydantic's models have them as attributes (`json`, `copy`, `schema`, ...).
_SHADOWING: Final = frozenset(
    {
        "any",
        "bool",
        "bytes",
        "date",
        "datetime",
        "decimal",
        "dict",
        "float",
        "int",
        "list",
        "str",
        "time",
        "type",
        "uuid",
    }
)
_MODEL_ATTRIBUTES: Final = frozenset(name for name in dir(pydantic.BaseModel) if not name.startswith("_"))
# Kinds a unique constraint makes no sense on: a handful of values (boolean, enum), or no equality
# a person would mean (map, array).
_NEVER_UNIQUE: Final = ("boolean", "enum", "map", "array")


class FieldError(ValueError):
    """A field spec `myapp gen` cannot take: its message is the one line the user sees."""


@dataclass(frozen=True)
class Reference:
    """What a `references:<table>` field points at, as the templates need it."""

    table: str
    schema: str  # the referenced schema's class name: "Category"
    context_module: str  # "my_app.catalog"
    fixture_module: str | None  # "tests.support.fixtures.catalog"
    fixture_call: str | None  # an awaitable expression giving a record with `.id`: "category_fixture()"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    inner: str | None = None  # an array's element kind
    values: tuple[str, ...] = ()  # an enum's values
    references: str | None = None  # the referenced table
    unique: bool = False
    redact: bool = False
    ref: Reference | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """ "released_on" → "Released on"; an `_id` reference reads as its record: "Category"."""
        words = self.name.removesuffix("_id") if self.kind == "references" else self.name
        return words.replace("_", " ").capitalize()

    @property
    def required(self) -> bool:
        """Booleans default to false (an unticked checkbox sends nothing); every other field is required."""
        return self.kind != "boolean"

    @property
    def py_type(self) -> str:
        if self.kind == "array":
            return f"list[{_PY_TYPES[self._inner]}]"
        return _PY_TYPES[self.kind]

    @property
    def column(self) -> str:
        """The schema's `mapped_column(...)` for this field."""
        options = ""
        if self.unique:
            options += ", unique=True"
        if self.kind == "references":
            return f'mapped_column(ForeignKey("{self.references}.id", ondelete="CASCADE"), index=True{options})'
        if self.kind == "boolean":
            return f"mapped_column(Boolean, server_default=false(){options})"
        return f"mapped_column({self._sa_type('')}{options})"

    @property
    def migration_column(self) -> str:
        """The migration's `sa.Column(...)` for this field."""
        default = ", server_default=sa.false()" if self.kind == "boolean" else ""
        return f'sa.Column("{self.name}", {self._sa_type("sa.")}, nullable=False{default})'

    @property
    def input_type(self) -> str:
        """The input model's annotation (the create model; the update model adds `| None = None`)."""
        if self.kind == "array":
            return f"field_types.Lines[{_INPUT_TYPES[self._inner]}]"
        if self.kind == "enum":
            return "Literal[" + ", ".join(f'"{value}"' for value in self.values) + "]"
        return _INPUT_TYPES[self.kind]

    @property
    def input(self) -> str:
        """The form input: text, textarea, number, checkbox, date, time, datetime-local, select or password."""
        if self.redact:
            return "password"
        if self.kind == "enum":
            return "select"
        return _FORM_INPUTS[self.kind]

    @property
    def example(self) -> str:
        return self._example(0)

    @property
    def update_example(self) -> str:
        return self._example(1)

    @property
    def json_example(self) -> str:
        """What the API answers for `example` (a Python literal): what it was sent, since the
        examples are already as the API writes them (decimals as strings, times in UTC with Z)."""
        return self.example

    @property
    def form_value(self) -> str:
        """The text a person types into the form for `example` (a Python string literal)."""
        return self._form_value(0)

    @property
    def update_form_value(self) -> str:
        return self._form_value(1)

    @property
    def _inner(self) -> str:
        if self.inner is None:
            raise FieldError(f"{self.name}: an array needs its element type, e.g. {self.name}:array:string")
        return self.inner

    def _sa_type(self, prefix: str) -> str:
        if self.kind == "array":
            inner = _SA_TYPES[self._inner].format(sa=prefix, length=STRING_LENGTH)
            array = "postgresql.ARRAY" if prefix else "ARRAY"
            return f"{array}({inner})"
        if self.kind == "map":
            return "postgresql.JSONB(astext_type=sa.Text())" if prefix else "JSONB"
        if self.kind == "references":
            return f"{prefix}Uuid()"
        return _SA_TYPES[self.kind].format(sa=prefix, length=STRING_LENGTH)

    def _example(self, which: int) -> str:
        if self.kind == "references":
            return "None"
        if self.kind == "enum":
            return f'"{self.values[min(which, len(self.values) - 1)]}"'
        if self.kind == "array":
            values = _EXAMPLES[self._inner]
            return "[" + ", ".join(values[which:] + values[:which]) + "]"
        return _EXAMPLES[self.kind][which]

    def _form_value(self, which: int) -> str:
        if self.kind == "references":
            return '""'
        if self.kind == "enum":
            return f'"{self.values[min(which, len(self.values) - 1)]}"'
        if self.kind == "array":
            values = [_unquote(value) for value in _FORM_VALUES[self._inner]]
            shown = values[which:] + values[:which]
            return repr("\n".join(shown)).replace("'", '"')
        return _FORM_VALUES[self.kind][which]


def _unquote(literal: str) -> str:
    return literal[1:-1] if literal.startswith('"') else literal


_PY_TYPES: Final = {
    "string": "str",
    "text": "str",
    "integer": "int",
    "float": "float",
    "decimal": "decimal.Decimal",
    "boolean": "bool",
    "date": "datetime.date",
    "time": "datetime.time",
    "utc_datetime": "datetime.datetime",
    "uuid": "uuid.UUID",
    "map": "dict[str, Any]",
    "enum": "str",
    "references": "uuid.UUID",
}
# Column types; `{sa}` is "sa." in a migration and "" in a schema module (names from sqlalchemy).
_SA_TYPES: Final = {
    "string": "{sa}String({length})",
    "text": "{sa}Text()",
    "integer": "{sa}Integer()",
    "float": "{sa}Float()",
    "decimal": "{sa}Numeric()",
    "boolean": "{sa}Boolean()",
    "date": "{sa}Date()",
    "time": "{sa}Time()",
    "utc_datetime": "{sa}DateTime(timezone=True)",
    "uuid": "{sa}Uuid()",
    "enum": "{sa}String({length})",
}
_INPUT_TYPES: Final = {
    "string": "field_types.String",
    "text": "field_types.Text",
    "integer": "field_types.Integer",
    "float": "field_types.Float",
    "decimal": "field_types.Decimal",
    "boolean": "field_types.Boolean",
    "date": "field_types.Date",
    "time": "field_types.Time",
    "utc_datetime": "field_types.UtcDatetime",
    "uuid": "uuid.UUID",
    "map": "field_types.JSONMap",
    "references": "uuid.UUID",
}
_FORM_INPUTS: Final = {
    "string": "text",
    "text": "textarea",
    "integer": "number",
    "float": "number",
    "decimal": "text",
    "boolean": "checkbox",
    "date": "date",
    "time": "time",
    "utc_datetime": "datetime-local",
    "uuid": "text",
    "map": "textarea",
    "array": "textarea",  # one item per line
    "references": "text",
}
# Two valid values per kind (create, update), as Python literals of what a client sends.
_EXAMPLES: Final = {
    "string": ['"some name"', '"other name"'],
    "text": ['"some text"', '"other text"'],
    "integer": ["42", "43"],
    "float": ["120.5", "456.7"],
    "decimal": ['"120.50"', '"456.70"'],
    "boolean": ["True", "False"],
    "date": ['"2026-12-01"', '"2026-12-02"'],
    "time": ['"14:00:00"', '"15:01:01"'],
    "utc_datetime": ['"2026-12-01T14:00:00Z"', '"2026-12-02T15:01:01Z"'],
    "uuid": ['"7488a646-e31f-11e4-aace-600308960662"', '"7488a646-e31f-11e4-aace-600308960668"'],
    "map": ['{"size": "large"}', '{"size": "small"}'],
}
# What a person types into the form for each example.
_FORM_VALUES: Final = {
    **_EXAMPLES,
    "integer": ['"42"', '"43"'],
    "float": ['"120.5"', '"456.7"'],
    "boolean": ['"true"', '"false"'],
    "utc_datetime": ['"2026-12-01T14:00"', '"2026-12-02T15:01"'],
    "time": ['"14:00"', '"15:01"'],
    "map": ['\'{"size": "large"}\'', '\'{"size": "small"}\''],
}


def parse_field(spec: str) -> Field:
    """`"rating:integer"` → Field; FieldError with one line saying what is wrong.

    Examples:
        parse_field("title:string:unique")           # Field(name="title", kind="string", unique=True)
        parse_field("tags:array:string")              # Field(name="tags", kind="array", inner="string")
        parse_field("status:enum:draft:published")    # Field(kind="enum", values=("draft", "published"))
        parse_field("product_id:references:products") # Field(kind="references", references="products")
        parse_field("Title:string")                   # FieldError
    """
    parts = spec.split(":")
    name, rest = parts[0], parts[1:]
    if not IDENTIFIER.fullmatch(name) or keyword.iskeyword(name):
        raise FieldError(f"{spec}: {name!r} is not a field name (lowercase letters, digits and _, e.g. title)")
    if name in RESERVED:
        raise FieldError(f"{spec}: {name!r} is set by every generated schema; pick another name")
    if name in _SHADOWING or name in _MODEL_ATTRIBUTES or name.startswith("model_"):
        raise FieldError(f"{spec}: {name!r} would hide a name the generated code uses; pick another name")
    modifiers = set()
    while rest and rest[-1] in MODIFIERS:
        modifiers.add(rest.pop())
    kind = rest[0] if rest else "string"
    args = rest[1:]
    common = {"name": name, "unique": "unique" in modifiers, "redact": "redact" in modifiers}
    if kind not in KINDS:
        raise FieldError(f"{spec}: unknown type {kind!r}; the types are {', '.join(KINDS)}")
    if kind in _NEVER_UNIQUE and common["unique"]:
        article = "an" if kind[0] in "aeiou" else "a"
        raise FieldError(f"{spec}: {article} {kind} cannot be unique (too few distinct values, or none to compare)")
    if kind == "array":
        if len(args) != 1 or args[0] not in ARRAY_KINDS:
            raise FieldError(f"{spec}: an array needs one element type of {', '.join(ARRAY_KINDS)}")
        return Field(kind="array", inner=args[0], **common)  # type: ignore[arg-type]
    if kind == "enum":
        if not args or any(not ENUM_VALUE.fullmatch(value) for value in args) or len(set(args)) != len(args):
            raise FieldError(f"{spec}: an enum needs its distinct lowercase values, e.g. {name}:enum:draft:published")
        return Field(kind="enum", values=tuple(args), **common)  # type: ignore[arg-type]
    if kind == "references":
        if len(args) != 1 or not IDENTIFIER.fullmatch(args[0]):
            raise FieldError(f"{spec}: a reference needs its table, e.g. {name}:references:products")
        if not name.endswith("_id"):
            raise FieldError(f"{spec}: a reference's name ends in _id, e.g. {args[0].removesuffix('s')}_id")
        return Field(kind="references", references=args[0], **common)  # type: ignore[arg-type]
    if args:
        raise FieldError(f"{spec}: {kind} takes no arguments ({':'.join(args)})")
    return Field(kind=kind, **common)  # type: ignore[arg-type]


def parse_fields(specs: list[str]) -> list[Field]:
    """Every field, in order; FieldError for a bad one or a name given twice."""
    fields = [parse_field(spec) for spec in specs]
    seen: set[str] = set()
    for item in fields:
        if item.name in seen:
            raise FieldError(f"{item.name}: the field is given twice")
        seen.add(item.name)
    return fields
