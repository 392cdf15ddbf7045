"""The Jinja2 environment that pages and components render with.

Links within pages are paths (`url_for('static', path='app.css')` is `/static/app-<hash>.css`, the
digested name of my_app_web.static_files; `static_path('app.css')` says the same): a page
never builds a URL from the request's Host header, which the client chooses. Where an absolute URL
is truly needed (a link that leaves the page: an email, a share link, `og:url`), `absolute_url_for`
builds it on APP_HOST (`settings.base_url`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from starlette.requests import Request

from my_app.config import Settings
from my_app_web import gettext, static_files

TEMPLATES_PATH = Path(__file__).parent / "templates"
STATIC_PATH = Path(__file__).parent / "static"
COMPONENTS_PATH = Path(__file__).parent / "components"


def path_for(request: Request, name: str, /, **path_params: Any) -> str:
    """The path of the route called `name`, under the app's root path; never a host.

    Examples:
        path_for(request, "static", path="app.css")     # "/static/app.css"
        path_for(request, "no_such_route")              # raises starlette.routing.NoMatchFound
    """
    router = request.scope.get("router") or request.scope["app"]
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/") + _route_path(router, name, path_params)


# Paths found, per router (kept on the router itself: they go with it). Starlette walks every route
# for each lookup (~0.35 ms with our routes): a row of a live list has several links, and 1,000
# open pages render it once each (bench/live_pages.py). Routes do not change once the app runs.
_PATHS_ATTRIBUTE = "_my_app_route_paths"
_PATHS_KEPT = 8192


def _route_path(router: Any, name: str, path_params: dict[str, Any]) -> str:
    try:
        key = (name, *sorted(path_params.items()))
        hash(key)
    except TypeError:  # an unhashable parameter: not kept
        return str(router.url_path_for(name, **path_params))
    paths: dict[tuple[Any, ...], str] | None = getattr(router, _PATHS_ATTRIBUTE, None)
    if paths is None:
        paths = {}
        setattr(router, _PATHS_ATTRIBUTE, paths)
    path = paths.get(key)
    if path is None:
        path = str(router.url_path_for(name, **path_params))
        if len(paths) >= _PATHS_KEPT:
            paths.clear()
        paths[key] = path
    return path


def absolute_url_for(request: Request, name: str, /, **path_params: Any) -> str:
    """The route's absolute URL on APP_HOST (`settings.base_url`), whatever Host the request named.

    Examples:
        absolute_url_for(request, "home")    # "https://example.com/" in prod (APP_HOST=example.com)
    """
    settings: Settings = request.app.state.settings
    return settings.base_url + path_for(request, name, **path_params)


@pass_context
def _url_for(context: Context, name: str, /, **path_params: Any) -> str:
    if name == "static" and "path" in path_params:
        # A static file's digested name (`app-<hash>.css`), cached for a year (my_app_web.static_files).
        path_params["path"] = static_files.assets.static_path(path_params["path"])
    return path_for(context["request"], name, **path_params)


@pass_context
def _static_path(context: Context, path: str, /) -> str:
    """`static_path("app.css")`: `/static/app-<hash>.css` (Phoenix's `static_path`)."""
    return path_for(context["request"], "static", path=static_files.assets.static_path(path))


@pass_context
def _absolute_url_for(context: Context, name: str, /, **path_params: Any) -> str:
    return absolute_url_for(context["request"], name, **path_params)


# Pages in templates/; the core components (Jinja2 macros) as "components/core.html".
templates = Jinja2Templates(
    env=Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(TEMPLATES_PATH), PrefixLoader({"components": FileSystemLoader(COMPONENTS_PATH)})]
        ),
        autoescape=select_autoescape(),
        extensions=["jinja2.ext.i18n"],
    )
)
# `_("Log in")`, `{% trans %}`, `current_locale()` and the date/number filters in every template,
# in the locale of the request (my_app_web.gettext).
gettext.install(templates.env)
# Replaces Starlette's `url_for`, which builds absolute URLs on the request's Host header.
templates.env.globals["url_for"] = _url_for
templates.env.globals["absolute_url_for"] = _absolute_url_for
templates.env.globals["static_path"] = _static_path
