"""Static files with content-digest names and long cache headers (Phoenix's `phx.digest` and `static_path`).

A page links `url_for('static', path='app.css')` (or `static_path('app.css')`) and gets
`/static/app-<md5 of its content>.css`. That URL names one content forever, so it is served with
`Cache-Control: public, max-age=31536000, immutable`: browsers and proxies keep it a year and never
ask again. A new content is a new name, so a deploy never leaves a stale stylesheet in a cache.

Where the bytes come from, first match wins:

1. `priv/static/` beside this module: the digested copies `myapp assets digest` builds for a
   release (`app-<hash>.css`, with `cache_manifest.json`, which lists every name and its logical
   path for a CDN or a front proxy). Git-ignored, inside the package, so a wheel built after
   `myapp assets digest` can carry them; copies of earlier releases stay until `myapp assets clean`,
   so pages still open from the previous release keep their stylesheet.
   Text files get a gzip copy too (`app-<hash>.css.gz`), sent with `Content-Encoding: gzip` to
   clients whose Accept-Encoding takes it.
2. `static/` (the sources): a digest is computed from the file's content when first asked for, and
   again whenever the file's size or mtime changes. So in dev an edited file has a new URL on the next
   page load, with no build step and no restart.

Requests:
- `/static/app-<hash>.css` whose hash is the content's: 200, immutable for a year.
- `/static/app-<hash>.css` with an older hash (a page from a node not yet redeployed, or an edit in
  dev): the current content, `no-cache`, so nothing keeps it; no broken page during a rolling deploy.
- `/static/app.css` (undigested): 200, `no-cache` with an ETag, so each use revalidates (a 304).
- Anything else, a directory, or a path out of the folder (`..`, absolute, symlinks out): 404.

ES modules: a module served under its digested name imports others by a relative, undigested URL
(`import {Socket} from "./vendor/phoenix@1.8.16/phoenix.mjs"`), which the browser resolves against
the importing module's URL (`/static/chat-<hash>.js` -> `/static/vendor/phoenix@1.8.16/phoenix.mjs`).
That import revalidates with its ETag (a 304) instead of being immutable; it is pinned by the
version in its folder name, and the CSP forbids the inline import map that would digest it.
`.js` and `.mjs` are served as `text/javascript` (browsers refuse a module of another type).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
import os
import re
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

SOURCE_PATH = Path(__file__).parent / "static"
# The release's digested copies; `myapp assets digest` writes here (git-ignored, inside the package).
DIGEST_PATH = Path(__file__).parent / "priv" / "static"
MANIFEST_NAME = "cache_manifest.json"

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# What the browser must get for these whatever the system's mimetypes table says: a module script of
# another type is refused, and `.mjs` is missing from some tables.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
}
# Text files `myapp assets digest` also writes gzipped (Phoenix's `phx.digest` does the same).
COMPRESSED = frozenset({".css", ".js", ".mjs", ".map", ".svg", ".json", ".txt", ".html"})
# `app-0123456789abcdef0123456789abcdef.css`: the name, the digest (md5, as phx.digest), the extension.
_DIGESTED = re.compile(r"^(?P<stem>.+)-(?P<digest>[0-9a-f]{32})(?P<ext>\.[A-Za-z0-9]+)?$")


def content_digest(path: Path) -> str:
    """The md5 hex digest of the file's content (a cache key, not a security measure)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def digested_name(logical_path: str, digest: str) -> str:
    """`css/app.css` with its digest: `css/app-<digest>.css` (the digest before the last extension).

    Examples:
        >>> digested_name("vendor/htmx.org@2.0.11/htmx.min.js", "0" * 32)
        'vendor/htmx.org@2.0.11/htmx.min-00000000000000000000000000000000.js'
        >>> digested_name("LICENSE", "0" * 32)
        'LICENSE-00000000000000000000000000000000'
    """
    path = PurePosixPath(logical_path)
    return str(path.with_name(f"{path.stem}-{digest}{path.suffix}"))


def undigested(path: str) -> tuple[str, str] | None:
    """The logical path and digest a digested name stands for; None for a plain name.

    Examples:
        >>> undigested("vendor/x@1/htmx.min-00000000000000000000000000000000.js")
        ('vendor/x@1/htmx.min.js', '00000000000000000000000000000000')
        >>> undigested("app.css") is None
        True
    """
    posix = PurePosixPath(path)
    match = _DIGESTED.match(posix.name)
    if match is None:
        return None
    return str(posix.with_name(match["stem"] + (match["ext"] or ""))), match["digest"]


def accepts_gzip(headers: Headers) -> bool:
    """True when Accept-Encoding lists gzip (or `*`) without `q=0`.

    Examples:
        >>> accepts_gzip(Headers({"accept-encoding": "gzip, deflate, br"}))
        True
        >>> accepts_gzip(Headers({"accept-encoding": "br, gzip;q=0"}))
        False
    """
    for item in headers.get("accept-encoding", "").lower().split(","):
        coding, _, parameters = item.strip().partition(";")
        if coding.strip() in {"gzip", "*"}:
            quality = parameters.strip().removeprefix("q=")
            return not (parameters.strip().startswith("q=") and _is_zero(quality))
    return False


def _is_zero(quality: str) -> bool:
    try:
        return float(quality) == 0
    except ValueError:
        return False


def _resolve_inside(root: Path, relative: str) -> Path | None:
    """`root/relative` when it is a regular file that stays inside `root` (symlinks resolved); else None."""
    if not relative or relative.startswith(("/", "\\")) or "\x00" in relative:
        return None
    root = root.resolve()
    try:
        candidate = (root / relative).resolve()
    except (OSError, ValueError):
        return None
    if not candidate.is_relative_to(root):
        return None
    try:
        mode = candidate.stat().st_mode
    except OSError:
        return None
    return candidate if stat.S_ISREG(mode) else None


@dataclass(frozen=True, slots=True)
class _Known:
    size: int
    mtime_ns: int
    digest: str


class StaticAssets:
    """The digests of the files under `source`, computed on demand and kept while a file is unchanged.

    Examples:
        assets = StaticAssets(SOURCE_PATH)
        assets.static_path("app.css")        # "app-3f2a...e1.css"
        assets.static_path("missing.css")    # "missing.css" (unchanged: it answers 404)
    """

    def __init__(self, source: Path = SOURCE_PATH, digested: Path = DIGEST_PATH) -> None:
        self.source = source
        self.digested = digested
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def digest(self, logical_path: str) -> str | None:
        """The digest of the source file's current content; None when there is no such file."""
        file = _resolve_inside(self.source, logical_path)
        if file is None:
            return None
        status = file.stat()
        known = self._known.get(logical_path)
        if known is not None and known.size == status.st_size and known.mtime_ns == status.st_mtime_ns:
            return known.digest
        digest = content_digest(file)
        with self._lock:
            self._known[logical_path] = _Known(status.st_size, status.st_mtime_ns, digest)
        return digest

    def static_path(self, logical_path: str) -> str:
        """The digested path of a source file (relative to /static); unchanged for a missing one."""
        logical_path = logical_path.lstrip("/")
        digest = self.digest(logical_path)
        return logical_path if digest is None else digested_name(logical_path, digest)

    def find(self, path: str) -> tuple[Path, str] | None:
        """The file that answers `/static/<path>` and its Cache-Control; None for a 404."""
        built = _resolve_inside(self.digested, path) if undigested(path) else None
        if built is not None:
            return built, IMMUTABLE
        source = _resolve_inside(self.source, path)
        if source is not None:
            return source, REVALIDATE
        parts = undigested(path)
        if parts is None:
            return None
        logical_path, digest = parts
        source = _resolve_inside(self.source, logical_path)
        if source is None:
            return None
        return source, IMMUTABLE if self.digest(logical_path) == digest else REVALIDATE


class DigestedStaticFiles(StaticFiles):
    """Starlette's StaticFiles (ETag, 304, HEAD, Range) serving what `StaticAssets.find` picks.

    Examples:
        app.mount("/static", DigestedStaticFiles(assets), name="static")
    """

    def __init__(self, assets: StaticAssets) -> None:
        super().__init__(directory=assets.source, check_dir=False)
        self.assets = assets

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        # Starlette hands the path in the OS's form; URLs and the manifest use "/".
        found = self.assets.find(path.replace(os.sep, "/"))
        if found is None:
            raise HTTPException(status_code=404)
        file, cache_control = found
        request_headers = Headers(scope=scope)
        headers = {"cache-control": cache_control}
        media_type = CONTENT_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
        if file.suffix in COMPRESSED and file.is_relative_to(self.assets.digested.resolve()):
            # A release's copy: `myapp assets digest` wrote it gzipped beside it too (when smaller).
            headers["vary"] = "accept-encoding"
            packed = file.with_name(file.name + ".gz")
            if accepts_gzip(request_headers) and packed.is_file():
                file = packed
                headers["content-encoding"] = "gzip"
        response = FileResponse(file, stat_result=file.stat(), media_type=media_type)
        response.headers.update(headers)
        if self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response


# --- Building a release's digested copies (`myapp assets digest` / `clean`) ---


@dataclass(frozen=True, slots=True)
class DigestReport:
    """What `digest` did: how many files, how many copies were new, and where."""

    files: int
    written: int
    output: Path
    manifest: Path


def digest(source: Path = SOURCE_PATH, output: Path = DIGEST_PATH) -> DigestReport:
    """Copy each source file to `output` under its digested name; write `cache_manifest.json`.

    Earlier digested copies stay (pages still open from the previous release may ask for them);
    `clean` removes the old ones. The manifest maps each logical path to its latest digested name,
    as Phoenix's `cache_manifest.json` does.
    """
    output.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(output)
    generation = int(previous.get("generation", 0)) + 1
    latest: dict[str, str] = {}
    digests: dict[str, dict[str, Any]] = {}
    written = 0
    # Hidden files (an editor's, the OS's) are no static files of ours.
    files = (path for path in source.rglob("*") if path.is_file() and not path.name.startswith("."))
    for file in sorted(files):
        logical = file.relative_to(source).as_posix()
        content = file.read_bytes()
        checksum = hashlib.md5(content, usedforsecurity=False).hexdigest()
        name = digested_name(logical, checksum)
        target = output / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            written += 1
            if file.suffix in COMPRESSED:
                # mtime=0: the same content gives the same bytes, whenever it is built.
                packed = gzip.compress(content, compresslevel=9, mtime=0)
                if len(packed) < len(content):
                    target.with_name(target.name + ".gz").write_bytes(packed)
        latest[logical] = name
        # `generation`: the last run that found this content current; `clean` removes by age.
        digests[name] = {"logical_path": logical, "digest": checksum, "size": len(content), "generation": generation}
    # Keep the entries of earlier digests still on disk, so `clean` knows their ages.
    for name, entry in previous.get("digests", {}).items():
        if name not in digests and (output / name).exists():
            digests[name] = entry
    manifest = output / MANIFEST_NAME
    document = {"version": 1, "generation": generation, "latest": latest, "digests": digests}
    manifest.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return DigestReport(files=len(latest), written=written, output=output, manifest=manifest)


def read_manifest(output: Path = DIGEST_PATH) -> dict[str, Any]:
    """The manifest `digest` wrote, or {} when there is none (or it is unreadable)."""
    try:
        document = json.loads((output / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def clean(output: Path = DIGEST_PATH, *, keep: int = 2, everything: bool = False) -> int:
    """Remove digested copies older than the last `keep` digests (Phoenix's `phx.digest.clean`).

    `everything` removes the whole output folder. Returns how many files were removed.
    """
    if not output.exists():
        return 0
    if everything:
        count = sum(1 for path in output.rglob("*") if path.is_file())
        shutil.rmtree(output)
        return count
    manifest = read_manifest(output)
    generation = int(manifest.get("generation", 0))
    digests: dict[str, dict[str, Any]] = manifest.get("digests", {})
    removed = 0
    for name, entry in list(digests.items()):
        if generation - int(entry.get("generation", 0)) >= keep:
            (output / name).unlink(missing_ok=True)
            (output / f"{name}.gz").unlink(missing_ok=True)
            del digests[name]
            removed += 1
    manifest["digests"] = digests
    (output / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return removed


assets = StaticAssets()
