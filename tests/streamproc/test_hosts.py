"""Host names: what a `Host` header or a configured name normalises to, and what each server answers to."""

from __future__ import annotations

import pytest

from streamproc.config import load_settings
from streamproc.errors import UserError
from streamproc.hosts import allowed_host_names, host_allowed, host_name, parse_allowed_hosts


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("127.0.0.1:8066", "127.0.0.1"),
        ("LocalHost", "localhost"),
        ("[::1]:8066", "[::1]"),
        ("[0:0:0:0:0:0:0:1]", "[::1]"),
        ("::1", "[::1]"),
        ("review.example.com", "review.example.com"),
        ("evil.example:", None),
        ("evil.example:80x", None),
        ("localhost.", None),
        ("a b", None),
        ("[::1]x", None),
        ("[nope]", None),
        ("", None),
    ],
)
def test_host_names_are_normalised_or_refused(value: str, name: str | None) -> None:
    assert host_name(value) == name


def test_the_default_names_and_the_bind_address() -> None:
    assert allowed_host_names((), "127.0.0.1") == {"127.0.0.1", "localhost", "[::1]"}
    assert allowed_host_names((), "0.0.0.0") == allowed_host_names((), "::") == {"127.0.0.1", "localhost", "[::1]"}
    assert "10.0.0.5" in allowed_host_names((), "10.0.0.5")
    names = allowed_host_names(parse_allowed_hosts(" Review.Example.com ,fe80::1,"), "0.0.0.0")
    assert {"review.example.com", "[fe80::1]"} <= names
    assert host_allowed("review.example.com:443", names) and not host_allowed("evil.example", names)
    assert not host_allowed(None, names)


@pytest.mark.parametrize("value", ["http://review.example.com", "review.example.com:443", "a b", "*.example.com"])
def test_a_setting_that_is_not_a_host_name_is_one_clear_error(value: str) -> None:
    with pytest.raises(UserError, match=r"^config error: STREAMPROC_ALLOWED_HOSTS: .* is not a host name") as error:
        load_settings(allowed_hosts=value)
    assert "\n" not in str(error.value)
