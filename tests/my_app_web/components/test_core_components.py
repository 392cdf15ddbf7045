"""The core components (components/core.html) and the layout: the HTML a user, and assistive tech, get."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from my_app.config import Settings
from my_app_web import static_files
from my_app_web.endpoint import create_app
from my_app_web.templating import COMPONENTS_PATH, TEMPLATES_PATH, templates
from tests.my_app_web.plugs.test_security_headers import INLINE
from tests.support.conn_case import client_for

# --- a small DOM, enough to ask what a screen reader would ---

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def __getitem__(self, name: str) -> str:
        value = self.attrs[name]
        assert value is not None, f"{self.tag}[{name}] has no value"
        return value

    def has(self, name: str) -> bool:
        return name in self.attrs

    @property
    def text(self) -> str:
        parts = [child if isinstance(child, str) else child.text for child in self.children]
        return " ".join(" ".join(parts).split())

    def walk(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def all(self, tag: str | None = None, **attrs: str | bool) -> list[Node]:
        """Descendants by tag and attributes (`True`: present; `class_` matches one class)."""

        def matches(node: Node) -> bool:
            if tag is not None and node.tag != tag:
                return False
            for name, wanted in attrs.items():
                name = name.rstrip("_").replace("_", "-")
                if wanted is True:
                    if not node.has(name):
                        return False
                elif name == "class":
                    if wanted not in (node.attrs.get("class") or "").split():
                        return False
                elif node.attrs.get(name) != wanted:
                    return False
            return True

        return [node for node in self.walk() if matches(node)]

    def one(self, tag: str | None = None, **attrs: str | bool) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} × {tag} {attrs}"
        return found[0]

    def by_id(self, element_id: str) -> Node:
        return self.one(id=element_id)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def render(source: str, **context: Any) -> Node:
    """Render `source` after importing every component; returns the parsed HTML."""
    header = '{% from "components/core.html" import ' + ", ".join(MACROS) + " %}"
    return parse(templates.env.from_string(header + source).render(**context))


MACROS = [
    "header",
    "simple_form",
    "errors_oob",
    "field_errors",
    "input",
    "button",
    "button_link",
    "table",
    "modal",
    "flash_group",
    "list",
    "back",
    "icon",
    "badge",
    "csrf_field",
]
ICONS = [
    "x-mark",
    "check",
    "exclamation-circle",
    "information-circle",
    "user",
    "users",
    "chat",
    "arrow-left",
    "plus",
    "pencil",
    "trash",
    "logout",
    "cog",
    "bars-3",
    "paper-airplane",
]


def described_by(node: Node, html: Node) -> list[Node]:
    return [html.by_id(element_id) for element_id in node["aria-describedby"].split()]


# --- the header comment is the documentation page authors read ---


def test_the_header_comment_lists_every_macro_page_authors_can_import() -> None:
    source = (COMPONENTS_PATH / "core.html").read_text()
    end_of_comment = source.index("-#}")
    comment = source[:end_of_comment]
    defined = re.findall(r"{%-?\s*macro\s+([a-z]\w*)\(", source[end_of_comment:])

    assert sorted(defined) == sorted(MACROS)
    for name in defined:
        assert re.search(rf"^\s+{name}\(", comment, re.MULTILINE), f"{name} is not in the header comment"


# --- input ---


def test_a_text_input_is_labelled_and_its_errors_are_tied_to_it() -> None:
    html = render(
        '{{ input("email", "Email", type="email", value="ada@example", errors=["must be valid"], required=True) }}'
    )

    field = html.by_id("user_email")
    assert (field.tag, field["type"], field["name"], field["value"]) == ("input", "email", "email", "ada@example")
    assert html.one("label", for_="user_email").text == "Email"
    assert field["aria-invalid"] == "true"
    assert field.has("required")
    [errors] = described_by(field, html)
    assert errors["id"] == "user_email-error"
    assert errors.text == "must be valid"
    assert errors.one("svg")["aria-hidden"] == "true"


def test_an_input_without_errors_is_not_invalid_but_keeps_an_empty_error_block_for_live_validation() -> None:
    html = render('{{ input("name", "Name", form_name="product", help="Shown in the shop") }}')

    field = html.by_id("product_name")
    assert not field.has("aria-invalid")
    assert not field.has("value")
    help_text, errors = described_by(field, html)
    assert help_text.text == "Shown in the shop"
    assert errors["id"] == "product_name-error"
    assert errors.children == []


def test_error_messages_and_values_are_escaped() -> None:
    html = render('{{ input("bio", "Bio", type="textarea", value="</textarea><b>x</b>", errors=["<i>bad</i>"]) }}')

    assert html.by_id("user_bio").text == "</textarea><b>x</b>"
    assert html.by_id("user_bio-error").text == "<i>bad</i>"
    assert html.all("b") == []
    assert html.all("i") == []


def test_a_password_is_never_rendered_back() -> None:
    html = render(
        '{{ input("password", "Password", type="password", value="secret 1234", autocomplete="new-password") }}'
    )

    field = html.by_id("user_password")
    assert field["type"] == "password"
    assert field["autocomplete"] == "new-password"
    assert not field.has("value")


def test_a_select_marks_the_current_value_and_offers_a_prompt() -> None:
    html = render(
        '{{ input("role", "Role", type="select", value="admin", prompt="Choose a role",'
        ' options=[("user", "User"), ("admin", "Admin")]) }}'
        '{{ input("size", "Size", type="select", value=2, options=["1", "2"]) }}'
    )

    role = html.by_id("user_role")
    assert role.tag == "select"
    assert html.one("label", for_="user_role").text == "Role"
    assert [(option["value"], option.text, option.has("selected")) for option in role.all("option")] == [
        ("", "Choose a role", False),
        ("user", "User", False),
        ("admin", "Admin", True),
    ]
    size = html.by_id("user_size")
    assert [(option["value"], option.has("selected")) for option in size.all("option")] == [("1", False), ("2", True)]


def test_a_checkbox_sends_false_when_unchecked_and_shows_its_state() -> None:
    html = render(
        '{{ input("remember_me", "Keep me logged in", type="checkbox", checked=True) }}'
        '{{ input("admin", "Admin", type="checkbox", value="false") }}'
    )

    remember = html.by_id("user_remember_me")
    assert (remember["type"], remember["value"], remember.has("checked")) == ("checkbox", "true", True)
    assert html.one("label", for_="user_remember_me").text == "Keep me logged in"
    assert [(hidden["name"], hidden["value"]) for hidden in html.all("input", type="hidden")] == [
        ("remember_me", "false"),
        ("admin", "false"),
    ]
    assert not html.by_id("user_admin").has("checked")


def test_a_hidden_input_and_extra_attributes() -> None:
    html = render(
        '{{ input("id", "", type="hidden", value=7) }}'
        '{{ input("age", "Age", type="number", value=0, attrs={"min": 0, "hx-get": "/x"}) }}'
    )

    assert (html.by_id("user_id")["type"], html.by_id("user_id")["value"]) == ("hidden", "7")
    assert html.all("label", for_="user_id") == []
    age = html.by_id("user_age")
    assert (age["type"], age["value"], age["min"], age["hx-get"]) == ("number", "0", "0", "/x")


# --- simple_form and live validation ---


def test_a_simple_form_posts_with_the_csrf_token_and_works_without_javascript() -> None:
    html = render('{% call simple_form("/users", "user-form", "tok3n") %}<p id="body">fields</p>{% endcall %}')

    form = html.by_id("user-form")
    assert (form.tag, form["method"], form["action"]) == ("form", "post", "/users")
    assert [name for name in form.attrs if name.startswith("hx-")] == []
    assert form.one("input", name="_csrf_token")["value"] == "tok3n"
    assert form.by_id("body").text == "fields"


def test_a_get_form_carries_no_csrf_token() -> None:
    html = render('{% call simple_form("/search", "search", "tok3n", method="get") %}{% endcall %}')

    assert html.by_id("search")["method"] == "get"
    assert html.all("input", name="_csrf_token") == []


def test_live_validation_posts_the_form_as_the_user_types_and_replaces_no_input() -> None:
    html = render('{% call simple_form("/users", "user-form", "t", validate="/users/validate") %}{% endcall %}')

    validating = html.by_id("user-form").one(data_validate=True)
    assert validating["hx-post"] == "/users/validate"
    assert "input changed delay:" in validating["hx-trigger"]
    assert validating["hx-swap"] == "none"  # only the out-of-band error blocks change


def test_a_form_with_a_target_submits_through_htmx_and_still_posts_without_it() -> None:
    html = render('{% call simple_form("/users", "user-form", "t", validate="/v", target="#modal") %}{% endcall %}')

    form = html.by_id("user-form")
    assert (form["method"], form["action"], form["hx-post"]) == ("post", "/users", "/users")
    assert (form["hx-target"], form["hx-select"], form["hx-push-url"]) == ("#modal", "#modal", "true")
    assert form["hx-disinherit"] == "*"  # the validation request inside keeps its own target and swap


def test_a_validate_answer_is_the_error_blocks_of_the_fields_as_out_of_band_swaps() -> None:
    html = render('{{ errors_oob("user", ["email", "name"], {"email": ["has already been taken"]}) }}')

    email, name = html.all("div", hx_swap_oob="true")
    assert (email["id"], email.text) == ("user_email-error", "has already been taken")
    assert (name["id"], name.children) == ("user_name-error", [])
    form = render('{{ input("email", "Email") }}{{ input("name", "Name") }}')
    assert {block["id"] for block in form.all(class_="field-errors")} == {"user_email-error", "user_name-error"}


# --- buttons ---


def test_a_button_with_disable_with_and_confirm() -> None:
    html = render(
        '{{ button("Delete", variant="danger", disable_with="Deleting...", confirm="Are you sure?",'
        ' name="action", value="delete", icon="trash", attrs={"hx-delete": "/users/1"}) }}'
    )

    button = html.one("button")
    assert (button["type"], button["class"]) == ("submit", "button button-danger")
    assert (button["data-disable-with"], button["data-confirm"]) == ("Deleting...", "Are you sure?")
    assert (button["name"], button["value"], button["hx-delete"]) == ("action", "delete", "/users/1")
    assert button.text == "Delete"
    assert button.one("svg")["aria-hidden"] == "true"


def test_a_plain_button_and_a_button_link() -> None:
    html = render(
        '{{ button("Cancel", type="button", variant="secondary") }}{{ button_link("/users/new", "New User") }}'
    )

    button = html.one("button")
    assert (button["type"], button["class"]) == ("button", "button button-secondary")
    assert not button.has("data-disable-with")
    assert not button.has("data-confirm")
    link = html.one("a")
    assert (link["href"], link["class"], link.text) == ("/users/new", "button button-primary", "New User")


# --- table ---

ROW = (
    '{% macro user_row(user) %}<tr id="users-{{ user.id }}">'
    '<td>{{ user.email }}</td><td class="actions"></td></tr>{% endmacro %}'
)


def test_a_table_renders_each_item_with_the_row_macro_in_a_tbody_with_the_stream_id() -> None:
    users = [SimpleNamespace(id=1, email="ada@example.com"), SimpleNamespace(id=2, email="bob@example.com")]

    html = render(ROW + '{{ table("users", ["Email", ""], users, user_row, empty="No users yet.") }}', users=users)

    tbody = html.by_id("users")
    assert tbody.tag == "tbody"
    assert [(row["id"], row.text) for row in tbody.all("tr")] == [
        ("users-1", "ada@example.com"),
        ("users-2", "bob@example.com"),
    ]
    email, actions = html.one("thead").all("th")
    assert (email["scope"], email.text) == ("col", "Email")
    assert actions.one("span", class_="sr-only").text == "Actions"
    empty = html.one("tfoot", class_="table-empty")
    assert (empty.one("td")["colspan"], empty.text) == ("2", "No users yet.")


def test_an_empty_table_has_an_empty_tbody_for_rows_inserted_later_and_shows_the_empty_state() -> None:
    html = render(ROW + '{{ table("users", ["Email"], [], user_row) }}')

    assert html.by_id("users").all("tr") == []
    assert html.one("tfoot").text == "Nothing here yet."
    # The empty state hides itself through CSS once the tbody has a row, also a live-inserted one.
    assert ".table:has(> tbody > tr) > .table-empty { display: none; }" in (STATIC / "app.css").read_text()


# --- modal ---


def test_a_modal_shown_by_the_server_is_an_accessible_dialog_closed_by_links() -> None:
    html = render(
        '{% call modal("user-modal", show=True, cancel_url="/users", title="New User") %}<p>body</p>{% endcall %}'
    )

    dialog = html.by_id("user-modal")
    assert (dialog["role"], dialog["aria-modal"]) == ("dialog", "true")
    assert not dialog.has("hidden")
    assert html.by_id(dialog["aria-labelledby"]).text == "New User"
    close = dialog.one("a", data_modal_close=True)
    assert (close["href"], close["aria-label"]) == ("/users", "Close")
    backdrop = dialog.one(class_="modal-backdrop")
    assert (backdrop.tag, backdrop["href"], backdrop["aria-hidden"], backdrop["tabindex"]) == (
        "a",
        "/users",
        "true",
        "-1",
    )
    assert dialog.one(class_="modal-body").text == "body"


def test_a_modal_not_shown_is_hidden_and_without_a_cancel_url_closes_by_script() -> None:
    html = render('{% call modal("confirm", title="Sure?") %}...{% endcall %}')

    dialog = html.by_id("confirm")
    assert dialog.has("hidden")
    close = dialog.one("button", data_modal_close=True)
    assert (close["type"], close.has("hidden"), close.has("data-js-only")) == ("button", True, True)


# --- flash, list, back, icon, badge, header, csrf ---


def test_flash_messages_are_announced_errors_assertively() -> None:
    html = render('{{ flash_group({"info": "Saved.", "error": "<b>Failed</b>"}) }}')

    group = html.by_id("flash-group")
    assert group["aria-live"] == "polite"
    info, error = group.all(class_="flash")
    assert (info["id"], info["role"], info.one("p").text) == ("flash-info", "status", "Saved.")
    assert (error["id"], error["role"], error.one("p").text) == ("flash-error", "alert", "<b>Failed</b>")
    assert info.one("button", data_flash_close=True)["aria-label"] == "Close"
    assert group["data-http-error"]  # what app.js shows when an htmx request fails


def test_an_empty_flash_group_is_still_there_for_messages_pushed_later() -> None:
    html = render("{{ flash_group({}) }}{{ flash_group({'info': 'Saved.'}, oob=True) }}")

    empty, pushed = html.all(id="flash-group")
    assert empty.children == []
    assert not empty.has("hx-swap-oob")
    assert pushed["hx-swap-oob"] == "innerHTML"


def test_list_back_badge_and_csrf_field() -> None:
    html = render(
        '{{ list([("Email", "ada@example.com"), ("Role", "admin")]) }}{{ back("/users", "Back to users") }}'
        '{{ back("/") }}{{ badge("admin", variant="admin") }}{{ csrf_field("tok3n") }}'
    )

    assert [(dt.text, dd.text) for dt, dd in zip(html.all("dt"), html.all("dd"), strict=True)] == [
        ("Email", "ada@example.com"),
        ("Role", "admin"),
    ]
    assert [(a["href"], a.text) for a in html.all("a")] == [("/users", "Back to users"), ("/", "Back")]
    assert html.one("span", class_="badge")["class"] == "badge badge-admin"
    csrf = html.one("input")
    assert (csrf["type"], csrf["name"], csrf["value"]) == ("hidden", "_csrf_token", "tok3n")


@pytest.mark.parametrize("name", ICONS)
def test_every_icon_is_an_svg_hidden_from_assistive_tech(name: str) -> None:
    svg = render('{{ icon(name, class="icon-sm") }}', name=name).one("svg")

    assert (svg["aria-hidden"], svg["focusable"], svg["class"]) == ("true", "false", "icon icon-sm")
    assert svg.one("path")["d"]


def test_an_unknown_icon_renders_nothing() -> None:
    assert render('{{ icon("no-such-icon") }}').children == []


def test_a_header_with_and_without_actions() -> None:
    plain = render('{{ header("Users") }}')
    with_actions = render('{% call header("Users", subtitle="Everyone") %}<a href="/users/new">New</a>{% endcall %}')

    assert plain.one("h1").text == "Users"
    assert plain.all(class_="page-header-actions") == []
    assert with_actions.one(class_="page-subtitle").text == "Everyone"
    assert with_actions.one(class_="page-header-actions").one("a")["href"] == "/users/new"


# --- the layout ---


@pytest.fixture(scope="module")
def app(settings: Settings) -> Any:
    return create_app(settings, start_application=False)


def page_request(app: Any, path: str = "/") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "app": app,
            "router": app.router,
            "path": path,
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"localhost")],
            "scheme": "http",
            "server": ("localhost", 80),
        }
    )


def layout(app: Any, path: str = "/", **context: Any) -> Node:
    source = '{% extends "layouts/root.html" %}{% block content %}<p id="content">page</p>{% endblock %}'
    return parse(templates.env.from_string(source).render(request=page_request(app, path), **context))


def nav_links(html: Node) -> dict[str, str]:
    return {a.text: a["href"] for a in html.by_id("site-nav").all("a")}


def test_a_visitor_is_offered_to_register_and_log_in(app: Any) -> None:
    html = layout(app, csrf_token="tok3n", flash={})

    assert nav_links(html) == {
        "Products": "/products",
        "Blog": "/blog",
        "Register": "/users/register",
        "Log in": "/users/log-in",
    }
    assert html.all("form", action="/users/log-out") == []
    assert html.by_id("content").text == "page"


def test_a_signed_in_user_sees_their_email_settings_chat_and_log_out(app: Any) -> None:
    user = SimpleNamespace(email="ada@example.com", role="user")

    html = layout(app, "/users/settings", current_user=user, csrf_token="tok3n", flash={})

    assert nav_links(html) == {"Products": "/products", "Blog": "/blog", "Chat": "/chat", "Settings": "/users/settings"}
    assert html.by_id("site-nav").one(class_="nav-user").text == "ada@example.com"
    assert html.one("a", href="/users/settings")["aria-current"] == "page"
    log_out = html.one("form", action="/users/log-out")
    assert log_out["method"] == "post"
    assert log_out.one("input", name="_csrf_token")["value"] == "tok3n"
    assert log_out.one("button").text == "Log out"


def test_an_admin_also_sees_the_admin_links(app: Any, settings: Settings) -> None:
    admin = SimpleNamespace(email="admin@example.com", role="admin")

    links = nav_links(layout(app, current_user=admin, csrf_token="t"))

    assert links["Users"] == "/users"
    assert links["Admin"] == "/admin/products"
    assert ("API docs" in links) == settings.api_docs


def test_the_layout_loads_its_scripts_deferred_sends_the_csrf_token_and_configures_htmx(app: Any) -> None:
    html = layout(app, csrf_token="tok3n", locale="de")

    assert html.one("html")["lang"] == "de"
    scripts = [(script["src"], script.has("defer")) for script in html.all("script")]
    assert scripts == [
        ("/static/" + static_files.assets.static_path(path), True)
        for path in ["vendor/htmx.org@2.0.11/htmx.min.js", "vendor/htmx-ext-sse@2.2.4/sse.js", "app.js"]
    ]
    assert json.loads(html.one("body")["hx-headers"]) == {"x-csrf-token": "tok3n"}
    config = json.loads(html.one("meta", name="htmx-config")["content"])
    assert config["includeIndicatorStyles"] is False  # htmx would inject a <style> the CSP blocks
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert html.one("a", class_="skip-link")["href"] == "#main"
    assert html.by_id("main").tag == "main"
    assert {a["hreflang"]: a["href"] for a in html.one("nav", class_="locale-switcher").all("a")} == {
        "en": "?locale=en",
        "de": "?locale=de",
    }


def test_the_layout_renders_without_a_session_as_error_pages_do(app: Any) -> None:
    html = layout(app)

    assert html.one("html")["lang"] == "en"
    assert not html.one("body").has("hx-headers")
    assert html.by_id("flash-group").children == []
    toggle = html.one("button", data_nav_toggle=True)
    assert (toggle["aria-controls"], toggle["aria-expanded"]) == ("site-nav", "false")


async def test_the_home_and_error_pages_render_with_the_components(settings: Settings) -> None:
    async with client_for(create_app(settings, start_application=False)) as client:
        home = parse((await client.get("/", headers={"accept": "text/html"})).text)
        missing = await client.get("/no-such-page", headers={"accept": "text/html"})

    assert home.one("h1").text == "Welcome to MyApp"
    assert {a["href"] for a in home.one(class_="hero-actions").all("a")} == {"/users/log-in", "/users/register"}
    assert missing.status_code == 404
    error = parse(missing.text)
    assert (error.one("p", class_="error-code").text, error.one("h1").text) == ("404", "Not Found")
    assert error.one(class_="hero-actions").one("a", href="/").text == "Back to the home page"


async def test_the_script_and_stylesheet_are_served(settings: Settings) -> None:
    async with client_for(create_app(settings, start_application=False)) as client:
        script = await client.get("/static/" + static_files.assets.static_path("app.js"))
        stylesheet = await client.get("/static/" + static_files.assets.static_path("app.css"))

    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert stylesheet.status_code == 200
    assert ".modal" in stylesheet.text


# --- nothing the page policy (CSP) blocks, in the components too ---

STATIC = TEMPLATES_PATH.parent / "static"
HX_ON = re.compile(r"\shx-on[:-]", re.IGNORECASE)  # htmx's inline handlers (need eval)


def sources() -> Iterator[Path]:
    yield from sorted(COMPONENTS_PATH.rglob("*.html"))
    yield from sorted(TEMPLATES_PATH.rglob("*.html"))


@pytest.mark.parametrize("path", list(sources()), ids=lambda path: path.relative_to(TEMPLATES_PATH.parent).as_posix())
def test_no_template_or_component_has_inline_code_or_styles(path: Path) -> None:
    source = path.read_text()
    # templates/ is also scanned by tests/my_app_web/plugs/test_security_headers.py; hx-on is not.
    patterns = [*INLINE, HX_ON] if path.is_relative_to(COMPONENTS_PATH) else [HX_ON]

    for pattern in patterns:
        assert not pattern.search(source), f"{path.name}: {pattern.pattern}"


def test_app_js_evaluates_no_strings() -> None:
    script = (STATIC / "app.js").read_text()

    assert "eval(" not in script
    assert "new Function" not in script
    assert not re.search(r"set(Timeout|Interval)\(\s*[\"'`]", script)
