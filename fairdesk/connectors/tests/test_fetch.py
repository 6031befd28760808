"""Avatar and attachment URLs never reach private or loopback addresses, even by redirect."""

import httpx
import pytest

from fairdesk.connectors.fetch import FetchRefused, fetch, is_public, system_resolver

PUBLIC = {"cdn.example": "93.184.216.34", "hop.example": "93.184.216.35"}
PRIVATE = {"internal.example": "10.0.0.5", "meta.example": "169.254.169.254"}


def resolver(host: str, port: int) -> list[str]:
    if host == "mixed.example":
        return ["93.184.216.34", "192.168.1.10"]
    known = {**PUBLIC, **PRIVATE}.get(host)
    return [known] if known else system_resolver(host, port)


def platform(routes: dict[str, httpx.Response], seen: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        key = request.headers["host"] + request.url.path
        seen.append(key)
        return routes.get(key, httpx.Response(404))

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/avatar.png",
        "http://localhost:8000/avatar.png",
        "http://10.0.0.1/a",
        "http://172.16.3.4/a",
        "http://192.168.0.1/a",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/a",
        "http://[::1]/a",
        "http://[::ffff:127.0.0.1]/a",
        "http://[fe80::1]/a",
        "http://224.0.0.1/a",
        "http://internal.example/a",
        "http://mixed.example/a",
        "file:///etc/passwd",
        "ftp://cdn.example/a",
        "http://user:pw@cdn.example/a",
        "http:///nohost",
    ],
)
def test_non_public_targets_are_refused_before_any_request(url: str) -> None:
    seen: list[str] = []
    with pytest.raises(FetchRefused):
        fetch(url, resolver=resolver, transport=platform({}, seen))
    assert seen == []


def test_a_redirect_into_the_private_network_is_refused() -> None:
    seen: list[str] = []
    routes = {
        "cdn.example/avatar.png": httpx.Response(
            302, headers={"location": "http://internal.example/admin"}
        )
    }
    with pytest.raises(FetchRefused, match="non-public"):
        fetch("http://cdn.example/avatar.png", resolver=resolver, transport=platform(routes, seen))
    assert seen == ["cdn.example/avatar.png"]


def test_public_redirects_are_followed_and_pinned_to_the_checked_address() -> None:
    seen: list[str] = []
    addresses: list[str] = []
    routes = {
        "cdn.example/a": httpx.Response(301, headers={"location": "http://hop.example/b"}),
        "hop.example/b": httpx.Response(200, content=b"PNG", headers={"content-type": "image/png"}),
    }
    transport = platform(routes, seen)

    def handle(request: httpx.Request) -> httpx.Response:
        addresses.append(request.url.host)
        return transport.handle_request(request)

    got = fetch("http://cdn.example/a", resolver=resolver, transport=httpx.MockTransport(handle))
    assert (got.url, got.body, got.content_type) == ("http://hop.example/b", b"PNG", "image/png")
    assert addresses == ["93.184.216.34", "93.184.216.35"]


def test_too_many_redirects_and_too_large_bodies_are_refused() -> None:
    loop = {"cdn.example/a": httpx.Response(302, headers={"location": "/a"})}
    with pytest.raises(FetchRefused, match="redirects"):
        fetch("http://cdn.example/a", resolver=resolver, transport=platform(loop, []))
    big = {"cdn.example/a": httpx.Response(200, content=b"x" * 2048)}
    with pytest.raises(FetchRefused, match="larger"):
        fetch(
            "http://cdn.example/a", resolver=resolver, transport=platform(big, []), max_bytes=1024
        )


def test_address_classification() -> None:
    assert is_public("93.184.216.34") and is_public("2606:2800:220:1::1")
    for address in ("127.0.0.1", "10.1.2.3", "100.64.0.1", "::1", "::ffff:10.0.0.1", "fc00::1"):
        assert not is_public(address), address
