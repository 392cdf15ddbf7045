"""Edits of existing modules that `myapp gen` makes, found through the parsed module (`ast`), never
by searching the text: a registry tuple gains an entry, imports are added after the last import,
`__all__` gains names, a section is appended. A reformatted file is edited the same way; a file
whose shape is not what the edit expects is refused with one line, and nothing is written.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable


class EditError(ValueError):
    """An edit that cannot be made: its message names the file's problem."""


def add_to_tuple(source: str, name: str, element: str) -> str:
    """`source` with `element` (Python source) appended to the tuple or list assigned to `name` at
    module level; unchanged when an element with the same source is there already.

    Examples:
        add_to_tuple('X = ("a",)\\n', "X", '"b"')   # 'X = ("a",\\n    "b",\\n)\\n' (ruff formats it later)
    """
    tree = ast.parse(source)
    value = _assigned(tree, name)
    if not isinstance(value, ast.Tuple | ast.List):
        raise EditError(f"{name} is not assigned a tuple or list at the top of the module")
    present = {ast.get_source_segment(source, item) for item in value.elts}
    if element in present or _normal(element) in {_normal(item or "") for item in present}:
        return source
    start = _offset(source, value.lineno, value.col_offset)
    end = _offset(source, value.end_lineno or value.lineno, value.end_col_offset or 0)
    text = source[start:end]
    closing = text[-1]
    body = text[:-1].rstrip()
    if value.elts and not body.endswith(","):
        body += ","
    return source[:start] + f"{body}\n    {element},\n{closing}" + source[end:]


def add_imports(source: str, lines: Iterable[str]) -> str:
    """`source` with the import `lines` placed after its last top-level import (ruff sorts and merges
    them afterwards); lines already present are left out."""
    new = [line for line in (line.strip() for line in lines) if line and line not in source.splitlines()]
    if not new:
        return source
    return _insert_after_imports(source, "".join(f"{line}\n" for line in new))


def add_exports(source: str, names: Iterable[str]) -> str:
    """`source` with `names` in its `__all__` (created after the imports when there is none), in
    isort order (constants, classes, then functions), as ruff's RUF022 sorts it."""
    tree = ast.parse(source)
    try:
        value = _assigned(tree, "__all__")
    except EditError:
        value = None
    if value is None:
        return _insert_after_imports(source, f"\n{_all_source(sorted(set(names), key=_isort_key))}\n")
    if not isinstance(value, ast.List | ast.Tuple) or not all(
        isinstance(item, ast.Constant) and isinstance(item.value, str) for item in value.elts
    ):
        raise EditError("__all__ is not a list of strings")
    current = [str(item.value) for item in value.elts if isinstance(item, ast.Constant)]
    merged = sorted(set(current) | set(names), key=_isort_key)
    start = _offset(source, value.lineno, value.col_offset)
    end = _offset(source, value.end_lineno or value.lineno, value.end_col_offset or 0)
    return source[:start] + _list_source(merged) + source[end:]


def defines(source: str, name: str) -> bool:
    """Does the module define `name` at top level (a function, class or assignment)?"""
    return any(
        _assigns(node, name)
        or (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name)
        for node in ast.parse(source).body
    )


def append_section(source: str, section: str) -> str:
    """`source` with `section` at its end, two blank lines between (top-level definitions)."""
    return source.rstrip() + "\n\n\n" + section.strip() + "\n"


def _assigned(tree: ast.Module, name: str) -> ast.expr:
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and _assigns(node, name) and node.value is not None:
            return node.value
    raise EditError(f"no top-level assignment to {name}")


def _assigns(node: ast.stmt, name: str) -> bool:
    """Is `node` a top-level `name = ...` or `name: T = ...`?"""
    if isinstance(node, ast.Assign):
        return any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
    return isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name


def _insert_after_imports(source: str, text: str) -> str:
    """`source` with `text` after its last top-level import; without imports, after its docstring
    (on a line of its own, apart from it)."""
    tree = ast.parse(source)
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    if imports:
        after = imports[-1].end_lineno or imports[-1].lineno
    else:
        docstring = ast.get_docstring(tree, clean=False)
        after = (tree.body[0].end_lineno or 0) if docstring is not None and tree.body else 0
        text = "\n" + text
    lines = source.splitlines(keepends=True)
    return "".join(lines[:after]) + text + "".join(lines[after:])


def _all_source(names: list[str]) -> str:
    return f"__all__ = {_list_source(names)}\n"


def _list_source(names: list[str]) -> str:
    return "[\n" + "".join(f'    "{name}",\n' for name in names) + "]"


def _isort_key(name: str) -> tuple[int, str]:
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def _normal(text: str) -> str:
    return "".join(text.split())


def _offset(source: str, lineno: int, col: int) -> int:
    """The character offset of (1-based line, UTF-8 byte column) in `source`."""
    lines = source.splitlines(keepends=True)
    line = lines[lineno - 1] if lineno - 1 < len(lines) else ""
    return sum(len(text) for text in lines[: lineno - 1]) + len(line.encode()[:col].decode())
