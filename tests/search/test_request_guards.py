"""search/request_guards.py: the client address behind trusted proxies, and declared body sizes."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from search.request_guards import client_ip, content_length


def request_from(remote: str, forwarded: str | None = None, **meta: str):
    extra = {"REMOTE_ADDR": remote, **meta}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_forwarded_for_is_ignored_without_trusted_proxies(settings):
    settings.SNAPSHELF_TRUSTED_PROXY_COUNT = 0
    assert client_ip(request_from("203.0.113.9", "1.2.3.4")) == "203.0.113.9"


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "198.51.100.7", "198.51.100.7"),  # one proxy appended the client
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the client's own claim is not believed
        (2, "6.6.6.6, 198.51.100.7, 10.0.0.2", "198.51.100.7"),  # two proxies
        (2, "198.51.100.7", "10.0.0.1"),  # fewer hops than proxies: REMOTE_ADDR
        (1, "not-an-address", "10.0.0.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_forwarded_for_counts_as_far_as_the_trusted_proxies(settings, count, forwarded, expected):
    settings.SNAPSHELF_TRUSTED_PROXY_COUNT = count
    assert client_ip(request_from("10.0.0.1", forwarded)) == expected


def test_content_length():
    assert content_length(request_from("10.0.0.1", CONTENT_LENGTH="1234")) == 1234
    assert content_length(request_from("10.0.0.1", CONTENT_LENGTH="nonsense")) == 0
    assert content_length(request_from("10.0.0.1")) == 0
