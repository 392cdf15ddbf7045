"""`myapp gen`'s field specs: what each type becomes, and the one-line refusals of bad ones."""

from __future__ import annotations

import pytest

from my_app.cli.gen.fields import Field, FieldError, parse_field, parse_fields


def test_a_field_without_a_type_is_a_string() -> None:
    assert parse_field("title") == Field(name="title", kind="string")


@pytest.mark.parametrize(
    ("spec", "py_type", "column", "migration"),
    [
        ("title:string", "str", "mapped_column(String(255))", 'sa.Column("title", sa.String(255), nullable=False)'),
        ("slug:string:unique", "str", "mapped_column(String(255), unique=True)", None),
        ("body:text", "str", "mapped_column(Text())", None),
        ("price:decimal", "decimal.Decimal", "mapped_column(Numeric())", None),
        ("active:boolean", "bool", "mapped_column(Boolean, server_default=false())", None),
        ("at:utc_datetime", "datetime.datetime", "mapped_column(DateTime(timezone=True))", None),
        ("specs:map", "dict[str, Any]", "mapped_column(JSONB)", None),
        ("tags:array:string", "list[str]", "mapped_column(ARRAY(String(255)))", None),
        ("status:enum:draft:published", "str", "mapped_column(String(255))", None),
        (
            "product_id:references:products",
            "uuid.UUID",
            'mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)',
            'sa.Column("product_id", sa.Uuid(), nullable=False)',
        ),
    ],
)
def test_each_type_maps_to_its_python_type_column_and_migration(
    spec: str, py_type: str, column: str, migration: str | None
) -> None:
    field = parse_field(spec)
    assert (field.py_type, field.column) == (py_type, column)
    if migration is not None:
        assert field.migration_column == migration


def test_inputs_examples_and_form_values_per_type() -> None:
    status = parse_field("status:enum:draft:published")
    assert status.input_type == 'Literal["draft", "published"]'
    assert (status.input, status.example, status.update_example) == ("select", '"draft"', '"published"')

    sizes = parse_field("sizes:array:integer")
    assert sizes.input_type == "field_types.Lines[field_types.Integer]"
    assert (sizes.example, sizes.update_example) == ("[42, 43]", "[43, 42]")
    assert sizes.form_value == '"42\\n43"'

    secret = parse_field("secret:string:redact")
    assert (secret.redact, secret.input) == (True, "password")
    active = parse_field("active:boolean")
    assert (active.required, active.input) == (False, "checkbox")
    assert parse_field("released_on:date").label == "Released on"
    assert parse_field("product_id:references:products").label == "Product"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("Title:string", "'Title' is not a field name"),
        ("class:string", "'class' is not a field name"),
        ("id:string", "'id' is set by every generated schema"),
        ("user_id:uuid", "'user_id' is set by every generated schema"),
        ("rating:integr", "unknown type 'integr'"),
        ("list:string", "'list' would hide a name the generated code uses"),
        ("uuid:uuid", "'uuid' would hide a name the generated code uses"),
        ("json:map", "'json' would hide a name the generated code uses"),
        ("model_name:string", "'model_name' would hide a name the generated code uses"),
        ("tags:array", "an array needs one element type"),
        ("tags:array:map", "an array needs one element type"),
        ("status:enum", "an enum needs its distinct lowercase values"),
        ("status:enum:a:a", "an enum needs its distinct lowercase values"),
        ("product:references:products", "a reference's name ends in _id"),
        ("title:string:255", "string takes no arguments"),
        ("specs:map:unique", "a map cannot be unique"),
        ("active:boolean:unique", "a boolean cannot be unique"),
        ("tags:array:string:unique", "an array cannot be unique"),
    ],
)
def test_a_bad_spec_is_refused_with_one_line(spec: str, message: str) -> None:
    with pytest.raises(FieldError) as refused:
        parse_field(spec)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_field_given_twice_is_refused() -> None:
    with pytest.raises(FieldError, match="the field is given twice"):
        parse_fields(["title:string", "title:text"])
