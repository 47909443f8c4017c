"""The web page served by the app (api.page): at /, with its files under /assets, every one from the
package, with a Content-Security-Policy that allows only the page's own scripts, styles and workers,
and cache headers that never let a browser run an old script against a new server."""

from __future__ import annotations

import re

import pytest

from api.page import WEB_ROOT

ASSETS = WEB_ROOT / "assets"
PDFJS = "/assets/vendor/pdfjs-5.4.296"


def policy(response) -> dict[str, str]:
    """The CSP header as {directive: sources}."""
    directives = [part.strip() for part in response.headers["content-security-policy"].split(";")]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else "" for d in directives if d}


def test_the_page_is_served_at_the_root_with_a_strict_content_security_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/assets/js/main.js">' in response.text
    csp = policy(response)
    assert csp["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src", "worker-src", "font-src"):
        assert csp[directive] == "'self'", directive
    assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]  # no inline script or style, no eval
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path, content_type", [
    ("/assets/js/main.js", "text/javascript"), ("/assets/style.css", "text/css"),
    ("/assets/favicon.svg", "image/svg+xml"),
])
def test_the_pages_own_files_are_revalidated_on_every_load(client, path, content_type):
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith(content_type)
    assert response.headers["cache-control"] == "no-cache"
    assert policy(response)["script-src"] == "'self'"
    again = client.get(path, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_vendored_files_are_cached_for_a_year_and_served_as_javascript(client):
    for name in ("pdf.min.mjs", "pdf.worker.min.mjs"):
        response = client.get(f"{PDFJS}/{name}")
        assert response.status_code == 200
        # A module script or worker with another type is refused by the browser (nosniff).
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get(f"{PDFJS}/text_layer.css").status_code == 200


def test_everything_the_page_loads_ships_in_the_package():
    """Every URL in the page and every module import resolves to a file under api/web: no CDN."""
    html = (WEB_ROOT / "index.html").read_text()
    urls = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert urls and all(url.startswith("/assets/") for url in urls), urls
    for url in urls:
        assert (ASSETS / url.removeprefix("/assets/")).is_file(), url
    scripts = sorted((ASSETS / "js").glob("*.js"))
    assert len(scripts) > 5
    for script in scripts:
        source = script.read_text()
        # Text reaches the page as text: no markup assigned, no code evaluated.
        markup_or_code = r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|\beval\(|new Function"
        assert not re.search(markup_or_code, source), script.name
        for target in re.findall(r'from "(\.[^"]+)"', source):
            assert (script.parent / target).resolve().is_file(), f"{script.name} imports {target}"
        assert not re.search(r"https?://", source), f"{script.name} names a remote URL"
    for vendored in ("LICENSE", "README.md", "pdf.min.mjs", "pdf.worker.min.mjs", "text_layer.css"):
        assert (ASSETS / "vendor" / "pdfjs-5.4.296" / vendored).is_file(), vendored


def test_the_page_does_not_hide_api_errors_or_unknown_files(client):
    missing_route = client.get("/v1/nothing-here")
    assert missing_route.status_code == 404 and "error" in missing_route.json()  # the API's envelope still
    assert client.get("/assets/js/nothing.js").status_code == 404
    assert client.get("/assets/../app.py").status_code == 404
    assert "/" not in client.get("/openapi.json").json()["paths"]  # the page is not part of the API


def test_the_page_follows_open_mode_rules(client):
    """In open mode the page, like every route, answers loopback only (api.open_mode)."""
    assert client.get("/").status_code == 200
    foreign = client.get("/", headers={"Host": "evil.example"})
    assert foreign.status_code == 403
