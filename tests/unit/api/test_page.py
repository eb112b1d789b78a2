"""The dashboard's files, served by the node itself: the page, its script and the vendored
libraries (with their licenses), with types a browser accepts for module scripts."""

from __future__ import annotations

import pytest


def test_the_page_and_its_module_script(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in page.text


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/static/app.js", "text/javascript"),
        ("/static/style.css", "text/css"),
        ("/static/vendor/phoenix/phoenix.mjs", "text/javascript"),
        ("/static/vendor/uplot/uPlot.esm.js", "text/javascript"),
        ("/static/vendor/uplot/uPlot.min.css", "text/css"),
    ],
)
def test_its_files_and_the_vendored_libraries(client, path, kind):
    answer = client.get(path)
    assert answer.status_code == 200, path
    assert answer.headers["content-type"].startswith(kind), answer.headers["content-type"]


def test_the_vendored_licenses_are_served_with_them(client):
    for path in ("/static/vendor/phoenix/LICENSE.md", "/static/vendor/uplot/LICENSE"):
        answer = client.get(path)
        assert answer.status_code == 200 and "MIT" in answer.text, path


def test_nothing_outside_the_static_folder(client):
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/%2e%2e/app.py").status_code == 404
    assert client.get("/static/..%2fapp.py").status_code == 404
    assert client.get("/static/app.js").headers["cache-control"] == "no-cache"
