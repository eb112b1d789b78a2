"""The exposition's text (api/exposition.py): what a scraper's parsers read of it, and which
Accept headers get it."""

from __future__ import annotations

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from api import exposition

PROMETHEUS_2 = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_3 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;"
    "escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        ("", False),
        ("*/*", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("application/json, text/plain;q=0.5", False),
        ("text/plain;q=0.5, application/json;q=0.5", False),  # a tie keeps the JSON
        ("text/plain; version=0.0.4", True),
        ("TEXT/PLAIN", True),
        ("application/json;q=0.1, text/plain", True),
        ("text/plain;q=oops", False),
        (PROMETHEUS_2, True),
        (PROMETHEUS_3, True),
    ],
)
def test_wanted_follows_the_accept_weights(accept, wanted):
    assert (exposition.chosen(accept) is not None) is wanted


CLASHING = {
    "x": 1,  # family x: x_total
    "x_total": 2,  # family x again: left out
    "g": 3,  # g_total is a gauge's: left out
    "hits_total": 4,
    "a-b": 5,  # no name
    "unexposed_series": 6,  # ours
    "temperature": 7,  # a gauge's name: left out
    "_total": 8,  # its family's name would be empty
}
SAMPLES = [
    ("g_total", (("job", "a"),), 1.0, 10.0),
    ("temperature", (), 1.0, 21.5),
    ("temperature", (("room", "k"),), 1.0, 19.0),
    ("unexposed_series", (), 1.0, 1.0),  # ours
    ("b.c", (), 1.0, 1.0),  # no name
]


@pytest.mark.parametrize("accept", ["text/plain; version=0.0.4", "application/openmetrics-text"])
def test_every_name_once_whatever_the_clashes(accept):
    body, content_type = exposition.render(exposition.chosen(accept), CLASHING, SAMPLES)
    text = body.decode()
    parse = (
        openmetrics_families if "openmetrics" in content_type else text_string_to_metric_families
    )
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types)), types  # each family once
    families = {f.name: f for f in parse(text)}
    owners: dict[str, str] = {}
    for family in families.values():
        for sample in family.samples:  # a sample name belongs to one family
            assert owners.setdefault(sample.name, family.name) == family.name, sample.name
    samples = [(s.name, s.value) for f in families.values() for s in f.samples]
    names = [name for name, _ in samples]
    assert sorted(set(names)) == sorted(
        ["g_total", "temperature", "x_total", "hits_total", "unexposed_series"]
    )
    assert ("x_total", 1.0) in samples and ("hits_total", 4.0) in samples
    assert families["x"].type == "counter" and families["g_total"].type == "gauge"
    # x_total, g, a-b, _total, our own name twice, temperature (a counter), b.c
    assert families["unexposed_series"].samples[0].value == 8
    assert (
        text
        == exposition.render(
            exposition.chosen(accept), dict(reversed(CLASHING.items())), SAMPLES[::-1]
        )[0].decode()
    )


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        ("text/plain, application/openmetrics-text;q=0", "text/plain"),
        ("application/openmetrics-text;q=0.2, text/plain;q=0.5", "text/plain"),
        (PROMETHEUS_2, "application/openmetrics-text"),
        (PROMETHEUS_3, "application/openmetrics-text"),
    ],
)
def test_the_format_is_the_one_weighed_most(accept, kind):
    _, content_type = exposition.render(exposition.chosen(accept), {"x": 1}, [])
    assert content_type.startswith(kind)
