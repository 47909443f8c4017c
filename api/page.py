"""The web page: ``GET /`` serves ``api/web/index.html`` and ``/assets/…`` its scripts, styles and the
vendored pdf.js, all from inside the package (no CDN; nothing the page loads comes from elsewhere).

The page is a client of the public API only (docs/api.md): it keeps no state on the server and
needs no route of its own besides these files.

Headers, on every file served here:

* ``Content-Security-Policy``: scripts, styles, fetches and workers from this origin only; no inline
  script or style, no ``eval``, no plug-ins, no framing, no foreign form targets. A document quoted
  in an answer therefore cannot run anything in the page, even if some code path inserted markup.
* ``Cache-Control``: the page and its own modules are revalidated on every load (``no-cache``: an
  ``ETag``/``Last-Modified`` check answered 304), so an upgraded server never runs an old script;
  vendored libraries sit under a versioned folder and are cached for a year as immutable.
* ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY``.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_ROOT = Path(__file__).resolve().parent / "web"
ASSETS_PREFIX = "/assets"
VENDOR_FOLDER = "vendor/"

CSP_DIRECTIVES = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    # pdf.js paints pages into canvases and may hand images over as blob: URLs.
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    # pdf.js parses PDFs in a module worker loaded from /assets/vendor/.
    "worker-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY = "; ".join(CSP_DIRECTIVES)
# Module scripts run only when served as JavaScript, and nosniff forbids guessing: a system whose
# MIME table lacks .mjs (pdf.js ships as .mjs) would otherwise serve it as application/octet-stream.
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")
REVALIDATE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"


def page_headers(cache_control: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


class PageAssets(StaticFiles):
    """The page's static files with the headers above; vendored (versioned) files cached as immutable."""

    def file_response(self, full_path, stat_result, scope: Scope, status_code: int = 200):
        response = super().file_response(full_path, stat_result, scope, status_code)
        relative = Path(full_path).resolve().relative_to(Path(self.directory).resolve()).as_posix()
        response.headers.update(page_headers(IMMUTABLE if relative.startswith(VENDOR_FOLDER) else REVALIDATE))
        return response


def mount_page(app: FastAPI) -> None:
    """``GET /`` → the page; ``/assets`` → its files. Left out of the OpenAPI document: it is not API."""

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_ROOT / "index.html", media_type="text/html; charset=utf-8",
                            headers=page_headers(REVALIDATE))

    app.mount(ASSETS_PREFIX, PageAssets(directory=WEB_ROOT / "assets"), name="assets")
