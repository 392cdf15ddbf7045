"""Static files: digested names cached for a year, plain names revalidated, nothing outside the folder.

The app's own files are checked through the app; the edge cases (edits in dev, a release's built
copies, symlinks) on a folder of the test's own, served by the same `DigestedStaticFiles`.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from my_app.config import Settings
from my_app_web import static_files
from my_app_web.endpoint import create_app
from my_app_web.static_files import IMMUTABLE, DigestedStaticFiles, StaticAssets, content_digest
from my_app_web.templating import templates

STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/static/app-([0-9a-f]{32})\.css)">')
SOURCE = static_files.SOURCE_PATH


def digested_url(logical_path: str) -> str:
    return "/static/" + static_files.assets.static_path(logical_path)


# --- The app's own files ---


async def test_pages_link_the_stylesheet_under_its_digest_which_is_cached_for_a_year(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    link = STYLESHEET.search(page.text)
    assert link is not None, page.text
    assert link.group(2) == content_digest(SOURCE / "app.css")

    response = await client.get(link.group(1))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.content == (SOURCE / "app.css").read_bytes()


async def test_an_undigested_name_is_served_but_revalidated_with_its_etag(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/app.css")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    etag = response.headers["etag"]

    again = await client.get("/static/app.css", headers={"if-none-match": etag})

    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    ("logical_path", "content_type"),
    [
        ("vendor/htmx.org@2.0.11/htmx.min.js", "text/javascript; charset=utf-8"),
        ("vendor/htmx-ext-sse@2.2.4/sse.js", "text/javascript; charset=utf-8"),
        # An ES module: a browser refuses to run one served under a non-JavaScript type.
        ("vendor/phoenix@1.8.16/phoenix.mjs", "text/javascript; charset=utf-8"),
    ],
)
async def test_vendored_scripts_are_served_digested_as_javascript(
    client: httpx.AsyncClient, logical_path: str, content_type: str
) -> None:
    url = digested_url(logical_path)
    assert re.search(r"-[0-9a-f]{32}\.m?js$", url), url

    digested = await client.get(url)
    plain = await client.get(f"/static/{logical_path}")

    assert digested.status_code == plain.status_code == 200
    assert digested.headers["content-type"] == plain.headers["content-type"] == content_type
    assert digested.headers["cache-control"] == IMMUTABLE
    assert plain.headers["cache-control"] == "no-cache"
    assert digested.content == plain.content == (SOURCE / logical_path).read_bytes()


async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head(digested_url("app.css"))

    assert response.status_code == 200
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/static/no-such-file.css",
        "/static/no-such-file-0123456789abcdef0123456789abcdef.css",
        "/static/vendor",
        "/static/vendor/",
        "/static/",
        "/static/../templating.py",
        "/static/%2e%2e/templating.py",
        "/static/vendor/%2e%2e/%2e%2e/endpoint.py",
        "/static/..%2fendpoint.py",
        "/static/%2fetc%2fpasswd",
        "/static//etc/passwd",
        "/static/app.css%00.js",
    ],
)
async def test_missing_files_directories_and_paths_out_of_the_folder_are_404(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 404, (path, response.text[:200])


async def test_only_get_and_head_are_answered(client: httpx.AsyncClient) -> None:
    response = await client.post(digested_url("app.css"))

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_the_static_path_global_and_url_for_agree_and_keep_the_root_path(settings: Settings) -> None:
    app = create_app(settings, start_application=False)
    request = Request({"type": "http", "app": app, "root_path": "/myapp", "path": "/", "headers": []})
    source = "{{ static_path('app.css') }} {{ url_for('static', path='app.css') }} {{ static_path('nope.css') }}"

    rendered = templates.env.from_string(source).render(request=request)

    expected = "/myapp" + digested_url("app.css")
    assert rendered == f"{expected} {expected} /myapp/static/nope.css"


# --- A folder of the test's own ---


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    source, built = tmp_path / "static", tmp_path / "priv" / "static"
    (source / "js").mkdir(parents=True)
    (source / "app.css").write_text("body { color: black }\n")
    (source / "js" / "chat.js").write_text('import {Socket} from "../vendor/phoenix.mjs"\n')
    (tmp_path / "secret.txt").write_text("not for the web\n")
    return source, built


@pytest.fixture
async def served(folders: tuple[Path, Path]) -> AsyncIterator[tuple[StaticAssets, httpx.AsyncClient]]:
    assets = StaticAssets(*folders)
    app = Starlette(routes=[Mount("/static", DigestedStaticFiles(assets), name="static")])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield assets, client


def edit(path: Path, text: str) -> None:
    """Change the file as an editor would: new content, and a later mtime even on coarse clocks."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


async def test_an_edited_file_gets_a_new_url_at_once_and_its_old_url_is_no_longer_immutable(
    served: tuple[StaticAssets, httpx.AsyncClient], folders: tuple[Path, Path]
) -> None:
    assets, client = served
    source, _ = folders
    old = assets.static_path("app.css")
    assert (await client.get(f"/static/{old}")).headers["cache-control"] == IMMUTABLE

    edit(source / "app.css", "body { color: navy }\n")
    new = assets.static_path("app.css")

    assert new != old
    assert new == f"app-{content_digest(source / 'app.css')}.css"
    fresh = await client.get(f"/static/{new}")
    assert fresh.headers["cache-control"] == IMMUTABLE
    assert fresh.text == "body { color: navy }\n"
    # A page rendered before the edit (or by a node not yet redeployed) still gets a stylesheet,
    # which no cache keeps.
    stale = await client.get(f"/static/{old}")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"
    assert stale.text == "body { color: navy }\n"


async def test_a_release_serves_its_built_copies_first(
    served: tuple[StaticAssets, httpx.AsyncClient], folders: tuple[Path, Path]
) -> None:
    assets, client = served
    source, built = folders
    report = static_files.digest(source, built)
    name = assets.static_path("js/chat.js")
    assert (built / name).read_bytes() == (source / "js" / "chat.js").read_bytes()
    assert report.files == 2
    assert report.written == 2

    # Even with the source gone, the digested name is answered from the build.
    (source / "js" / "chat.js").unlink()
    response = await client.get(f"/static/{name}")

    assert response.status_code == 200
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert (await client.get("/static/js/chat.js")).status_code == 404


async def test_symlinks_out_of_the_folder_are_not_followed(
    served: tuple[StaticAssets, httpx.AsyncClient], folders: tuple[Path, Path]
) -> None:
    assets, client = served
    source, _ = folders
    (source / "leak.txt").symlink_to(source.parent / "secret.txt")
    (source / "up").symlink_to(source.parent)

    for path in ["leak.txt", "up/secret.txt", assets.static_path("leak.txt")]:
        response = await client.get(f"/static/{path}")
        assert response.status_code == 404, path


def test_digest_writes_a_manifest_of_the_latest_names_and_clean_keeps_the_last_runs(
    folders: tuple[Path, Path],
) -> None:
    source, built = folders
    names = []
    for color in ["black", "navy", "teal"]:
        edit(source / "app.css", f"body {{ color: {color} }}\n")
        static_files.digest(source, built)
        names.append(f"app-{content_digest(source / 'app.css')}.css")

    manifest = static_files.read_manifest(built)
    assert manifest["latest"]["app.css"] == names[-1]
    assert manifest["latest"]["js/chat.js"].startswith("js/chat-")
    assert all((built / name).exists() for name in names)

    removed = static_files.clean(built, keep=2)

    assert removed == 1
    assert [(built / name).exists() for name in names] == [False, True, True]
    assert (built / static_files.read_manifest(built)["latest"]["js/chat.js"]).exists()
    assert static_files.clean(built, keep=2) == 0

    assert static_files.clean(built, everything=True) == 4  # two app.css, chat.js, the manifest
    assert not built.exists()


async def test_a_release_sends_its_gzip_copy_to_clients_that_take_gzip(
    served: tuple[StaticAssets, httpx.AsyncClient], folders: tuple[Path, Path]
) -> None:
    assets, client = served
    source, built = folders
    stylesheet = "".join(f".row-{number} {{ color: #{number:06x} }}\n" for number in range(500))
    (source / "app.css").write_text(stylesheet)
    static_files.digest(source, built)
    url = f"/static/{assets.static_path('app.css')}"
    assert (built / f"{assets.static_path('app.css')}.gz").exists()

    # httpx asks for gzip and decodes it, as a browser does.
    packed = await client.get(url, headers={"accept-encoding": "gzip"})
    plain = await client.get(url, headers={"accept-encoding": "identity"})

    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(stylesheet) / 3
    assert "content-encoding" not in plain.headers
    for response in (packed, plain):
        assert response.status_code == 200
        assert response.text == stylesheet
        assert response.headers["content-type"] == "text/css; charset=utf-8"
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["vary"] == "accept-encoding"
    # The gzip copy has no URL of its own.
    assert (await client.get(f"{url}.gz")).status_code == 404
