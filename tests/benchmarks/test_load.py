"""benchmarks/load.py: its bounds, its report, and its clients against a live server."""

from __future__ import annotations

import pytest

from benchmarks import load


def test_arguments_are_bounded_and_loopback_only():
    assert load.arguments([]).rounds == 1
    assert load.arguments(["--compare", "main"]).rounds == 2
    bad_lines = [
        ["--clients", "0"], ["--clients", "999"], ["--seconds", "9999"], ["--photo-share", "1.5"],
        ["--url", "http://example.com:8000"], ["--url", "http://127.0.0.1:8000", "--compare", "main"],
    ]  # fmt: skip
    for bad in bad_lines:
        with pytest.raises(SystemExit):
            load.arguments(bad)
    assert load.arguments(["--url", "http://127.0.0.1:8000"]).url == "http://127.0.0.1:8000"


def test_the_report_gives_rates_percentiles_and_every_error():
    server = load.Server("here", "http://127.0.0.1:1", "")
    server.samples = [("words", n / 1000, "") for n in range(1, 101)] + [("photo", 0.2, "POST /search/ 500: 'x'")]
    server.seconds = 10.0
    lines = load.report(server)
    # A storefront photo is two HTTP requests (the POST and the results page after its 303).
    assert lines[0] == "here: 101 operations (102 HTTP requests, 10.2/s) in 10 s, 1 errors"
    words = next(line for line in lines if line.strip().startswith("words"))
    assert "10.0/s" in words and "p50    51.0 ms" in words and "p95    95.0 ms" in words
    assert lines[-1] == "  error x1 (photo): POST /search/ 500: 'x'"


@pytest.mark.slow
def test_each_kind_of_client_request_works_against_the_live_storefront_and_api(live_server, transactional_db):
    from storeapi.services.api_keys import api_key_create
    from tests.search.search_fixtures import demo_index_build, demo_photo_bytes

    demo_index_build("offline")
    _, key = api_key_create(name="load", kind="read", throttle_rate="100000/min")
    server = load.Server("live", live_server.url, key)
    photos = [demo_photo_bytes("DEMO-MUG-RED")]
    shopper = load.Shopper(server, load.Workload(["red mug", "green sneaker"], photos, 0.5, 0.5), seed=1)
    # Each kind once: words and a photo through the storefront (CSRF, 303, results), and the API.
    assert [shopper._words(), shopper._photo(), shopper._api_words(), shopper._api_photo()] == ["", "", "", ""]
    samples = load.load_run(server, shopper.workload, clients=2, seconds=1.0, seed=2)
    assert samples and [error for _, _, error in samples if error] == []
