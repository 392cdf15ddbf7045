"""The edits `myapp gen` makes to existing modules work on the parsed code, whatever its layout."""

from __future__ import annotations

import pytest

from my_app.cli.gen.source_edit import EditError, add_exports, add_imports, add_to_tuple, append_section, defines

ROUTERS = '''"""Routes."""

from app import a

ROUTERS: tuple[object, ...] = (
    a.router,
    # a comment kept where it is
    b.router,
)
'''


def test_an_entry_is_added_at_the_end_of_the_tuple_keeping_its_comments() -> None:
    edited = add_to_tuple(ROUTERS, "ROUTERS", "c.router")
    assert "    b.router,\n    c.router,\n)" in edited
    assert "# a comment kept where it is" in edited
    assert add_to_tuple(edited, "ROUTERS", "c.router") == edited  # once only


@pytest.mark.parametrize(
    "source",
    ['X = ("a", "b")\n', "X = (\n    'a',\n    'b'\n)\n", 'X = ["a", "b"]\n', "X: tuple[str, ...] = ('a','b',)\n"],
)
def test_the_tuple_is_found_however_it_is_formatted(source: str) -> None:
    edited = add_to_tuple(source, "X", '"c"')
    namespace: dict[str, object] = {}
    exec(edited, namespace)  # noqa: S102 - our own test input
    assert list(namespace["X"]) == ["a", "b", "c"]  # type: ignore[call-overload]


def test_an_empty_tuple_gains_its_first_entry() -> None:
    namespace: dict[str, object] = {}
    exec(add_to_tuple("X: tuple[str, ...] = ()\n", "X", '"a"'), namespace)  # noqa: S102
    assert namespace["X"] == ("a",)


def test_a_missing_or_odd_registry_is_refused() -> None:
    with pytest.raises(EditError, match="no top-level assignment to ROUTERS"):
        add_to_tuple('"""Nothing here."""\n', "ROUTERS", "a")
    with pytest.raises(EditError, match="is not assigned a tuple or list"):
        add_to_tuple("ROUTERS = make()\n", "ROUTERS", "a")


def test_imports_go_after_the_last_top_level_import() -> None:
    edited = add_imports(ROUTERS, ["from app import c", "from app import a"])
    assert edited.splitlines()[2:5] == ["from app import a", "from app import c", ""]


def test_exports_are_merged_in_isort_order() -> None:
    source = '"""M."""\n\nimport x\n\n__all__ = ["b_function", "Thing"]\n'
    edited = add_exports(source, ["A_TOPIC", "a_function", "Other"])
    namespace: dict[str, object] = {}
    exec(edited.replace("import x\n", ""), namespace)  # noqa: S102
    assert namespace["__all__"] == ["A_TOPIC", "Other", "Thing", "a_function", "b_function"]


def test_a_module_without_exports_gets_them_after_its_imports() -> None:
    edited = add_exports('"""M."""\n\nimport x\n\nY = 1\n', ["f"])
    assert edited.index("import x") < edited.index("__all__") < edited.index("Y = 1")


def test_defines_and_append_section() -> None:
    source = append_section('"""M."""\n\nimport x\n', "def list_reviews() -> None:\n    pass\n")
    assert source.endswith("import x\n\n\ndef list_reviews() -> None:\n    pass\n")
    assert defines(source, "list_reviews")
    assert not defines(source, "list_posts")
