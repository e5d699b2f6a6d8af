"""The web server without a browser: proxy rules, roles, relay, search/progress joins, config."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from streamfleet.config import ConfigError
from web.app import build_app
from web.config import WebConfig, load
from web.promtext import parse_samples, total
from web.proxy import rewrite_location

from ..logcapture import captured_access_lines
from .inprocess import serving

ORIGIN = "http://origin.test"
CONTROL = "http://control.test"
STEERING = "http://steering.test"
APPLIANCE = "http://east-1.test"
Handler = Callable[[httpx.Request], httpx.Response]
ROLES = {"op-token": "operator", "viewer-token": "viewer"}


def fake_services(seen: list[httpx.Request]) -> Handler:
    """Origin, control plane and one appliance, as far as the web server uses them."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        request.read()
        answer = route(request)
        # Like a real transport: the body is a stream the proxy reads once, as it arrives.
        return httpx.Response(answer.status_code, headers=answer.headers,
                              stream=httpx.ByteStream(answer.content))

    def route(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url == f"{ORIGIN}/v1/me":
            token = request.headers.get("cookie", "").removeprefix("sf_session=")
            role = ROLES.get(token)
            if role is None:
                return httpx.Response(401, json={"error": {"status": 401, "message": "log in first"}})
            return httpx.Response(200, json={"id": "u1", "username": f"{role}-1", "role": role})
        if url == f"{ORIGIN}/v1/uploads" and request.method == "POST":
            return httpx.Response(201, headers={"location": "/v1/uploads/abc", "tus-resumable": "1.0.0"})
        if url.startswith(f"{ORIGIN}/v1/titles") and "sort" in url or url == f"{ORIGIN}/v1/titles":
            return httpx.Response(200, json={"titles": [
                {"id": "harbour", "name": "Harbour Lights", "status": "ready", "duration_s": 12.0},
                {"id": "night", "name": "Night Train", "status": "ready", "duration_s": 30.0},
                {"id": "wip", "name": "Harbour Draft", "status": "processing", "duration_s": 0.0}]})
        if url.startswith(f"{ORIGIN}/v1/search"):
            hits = [{"id": "harbour", "name": "Harbour Lights", "score": 2.5},
                    {"id": "wip", "name": "Harbour Draft", "score": 1.0}]
            return httpx.Response(200, json={"query": "harbor", "corrected": "harbour", "results": hits})
        if url == f"{ORIGIN}/v1/titles/wip":
            encoded = {"240p": {"chunks_done": 2, "chunks": 2}, "720p": {"chunks_done": 1, "chunks": 2}}
            return httpx.Response(200, json={"id": "wip", "name": "Harbour Draft", "status": "processing",
                                             "renditions": [],
                                             "progress": {"stage": "encoding", "renditions": encoded}})
        if url == f"{CONTROL}/v1/fleet":
            return httpx.Response(200, json={"version": 3, "appliances": [
                {"appliance_id": "east-1", "site": "east", "http_url": APPLIANCE, "health": "healthy"}]})
        if url.startswith(f"{CONTROL}/v1/fill/"):
            return httpx.Response(200, json={"schedules": []})
        if url.startswith(f"{APPLIANCE}/s/"):
            return httpx.Response(206, content=b"seg", headers={
                "content-type": "video/iso.segment", "x-served-by": "east-1", "x-cache": "HIT",
                "content-range": "bytes 0-2/10", "set-cookie": "tracking=1"})
        return httpx.Response(404, json={"error": {"status": 404, "message": "not here"}})

    return handle


@pytest.fixture
def seen() -> list[httpx.Request]:
    return []


@pytest.fixture
def client(tmp_path: Path, seen: list[httpx.Request]) -> Iterator[httpx.Client]:
    config = WebConfig(origin_url=ORIGIN, steering_url=STEERING, control_plane_http=CONTROL,
                       data_dir=tmp_path / "web", operator_token="cp-secret")
    app = build_app(config, transport=httpx.MockTransport(fake_services(seen)))
    with serving(app) as url, httpx.Client(base_url=url) as test_client:
        yield test_client


def test_only_listed_service_paths_are_reachable(client: httpx.Client) -> None:
    assert client.get("/api/origin/v1/titles").status_code == 200
    for path in ("/api/origin/metrics", "/api/origin/s/tok/x/master.m3u8", "/api/origin/v1/../metrics",
                 "/api/steering/healthz"):
        assert client.request("POST" if "steering" in path else "GET", path).status_code in (404, 405), path


def test_proxy_rewrites_locations_and_forwards_the_client(client: httpx.Client,
                                                          seen: list[httpx.Request]) -> None:
    created = client.post("/api/origin/v1/uploads", headers={"tus-resumable": "1.0.0", "upload-length": "3"})
    assert created.status_code == 201
    assert created.headers["location"] == "/api/origin/v1/uploads/abc"
    assert created.headers["tus-resumable"] == "1.0.0"
    upstream = seen[-1]
    assert upstream.headers["tus-resumable"] == "1.0.0"
    assert upstream.headers["x-forwarded-for"] == "127.0.0.1"
    assert upstream.headers["x-forwarded-host"] == str(client.base_url.netloc.decode())


def test_cross_origin_writes_are_refused(client: httpx.Client) -> None:
    refused = client.post("/api/origin/v1/sessions", json={}, headers={"origin": "http://evil.test"})
    assert refused.status_code == 403
    allowed = client.post("/api/origin/v1/uploads", headers={"origin": str(client.base_url).rstrip("/")})
    assert allowed.status_code == 201


def test_control_plane_needs_an_operator_and_never_sees_browser_credentials(
        client: httpx.Client, seen: list[httpx.Request]) -> None:
    assert client.get("/api/control/v1/fleet").status_code == 401
    client.cookies.set("sf_session", "viewer-token")
    assert client.get("/api/control/v1/fleet").status_code == 403
    assert client.get("/api/ops/overview").status_code == 403
    client.cookies.set("sf_session", "op-token")
    answer = client.put("/api/control/v1/fill/schedules/east", json={"window": "02:00-06:00"},
                        headers={"authorization": "Bearer mine"})
    assert answer.status_code == 200
    upstream = seen[-1]
    assert upstream.url.path == "/v1/fill/schedules/east"
    assert upstream.headers["authorization"] == "Bearer cp-secret"
    assert "cookie" not in upstream.headers
    assert json.loads(upstream.content) == {"window": "02:00-06:00"}


def test_session_endpoint_answers_200_logged_in_or_not(client: httpx.Client) -> None:
    assert client.get("/api/session").json() == {"user": None}
    client.cookies.set("sf_session", "viewer-token")
    assert client.get("/api/session").json()["user"]["role"] == "viewer"


def test_relay_passes_only_signed_paths_to_listed_appliances(client: httpx.Client,
                                                             seen: list[httpx.Request]) -> None:
    path = "/s/demo.2000000000.sig/harbour/480p/seg_00001.m4s"
    answer = client.get(f"/api/relay/appliance/east-1{path}", headers={"range": "bytes=0-2", "cookie": "a=b"})
    assert answer.status_code == 206 and answer.content == b"seg"
    assert answer.headers["x-served-by"] == "east-1"
    assert "set-cookie" not in answer.headers
    upstream = seen[-1]
    assert str(upstream.url) == APPLIANCE + path
    assert upstream.headers["range"] == "bytes=0-2" and "cookie" not in upstream.headers
    assert client.get(f"/api/relay/appliance/west-9{path}").status_code == 404
    assert client.get("/api/relay/appliance/east-1/s/tok/../../etc/passwd").status_code == 404
    # The DASH manifest is a title-level file like the master playlist; nowhere else.
    dash = "/s/demo.2000000000.sig/harbour/manifest.mpd"
    assert client.get(f"/api/relay/appliance/east-1{dash}").status_code == 206
    assert str(seen[-1].url) == APPLIANCE + dash
    assert client.get("/api/relay/appliance/east-1/s/tok/harbour/480p/manifest.mpd").status_code == 404


def test_search_joins_origin_hits_with_the_listing(client: httpx.Client) -> None:
    body = client.get("/api/search", params={"q": "harbor"}).json()
    assert body["source"] == "origin" and body["corrected"] == "harbour"
    # Only ready titles, in the origin's order, with their durations.
    assert [(t["id"], t["duration_s"]) for t in body["titles"]] == [("harbour", 12.0)]
    assert client.get("/api/search", params={"q": "  "}).json()["titles"] == []


def test_progress_lists_encoded_chunks_per_rendition(client: httpx.Client) -> None:
    body = client.get("/api/titles/wip/progress").json()
    assert body["status"] == "processing" and body["stage"] == "encoding"
    assert body["renditions"] == [{"name": "720p", "done": 1, "total": 2},
                                  {"name": "240p", "done": 2, "total": 2}]
    assert client.get("/api/titles/Bad..Id/progress").status_code == 404


def test_pages_and_static_files_are_served(client: httpx.Client) -> None:
    for path in ("/", "/login", "/signup", "/search", "/upload", "/ops", "/titles/x", "/watch/x"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
        assert '<main id="main"' in page.text
    assert client.get("/static/vendor/hls.min.js").status_code == 200
    assert client.get("/static/vendor/tus.min.js").status_code == 200
    assert client.get("/favicon.ico").headers["content-type"] == "image/svg+xml"
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/static/%2e%2e/config.py").status_code == 404


def test_rewrite_location() -> None:
    assert rewrite_location("/v1/uploads/x", ORIGIN, "/api/origin") == "/api/origin/v1/uploads/x"
    assert rewrite_location(f"{ORIGIN}/v1/uploads/x", ORIGIN, "/api/origin") == "/api/origin/v1/uploads/x"
    assert rewrite_location("https://elsewhere.test/y", ORIGIN, "/api/origin") == "https://elsewhere.test/y"
    assert rewrite_location("//elsewhere.test/y", ORIGIN, "/api/origin") == "//elsewhere.test/y"


def test_prometheus_totals() -> None:
    samples = parse_samples(
        "# TYPE streamfleet_appliance_requests counter\n"
        'streamfleet_appliance_requests_total{result="hit"} 7\n'
        'streamfleet_appliance_requests_total{result="miss"} 3\n')
    assert total(samples, "streamfleet_appliance_requests_total") == 10
    assert total(samples, "streamfleet_appliance_requests_total", result="hit") == 7
    assert total(samples, "nothing") == 0


def test_config_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "web.toml"
    path.write_text('port = 9001\norigin_url = "http://o:1"\n'
                    '[tokens]\nkeys = { k1 = "0123456789abcdef0123" }\nactive = "k1"\n')
    config = load(path, {"WEB_MEDIA_RELAY": "false", "WEB_STEERING_URL": "http://s:2"})
    assert (config.port, config.origin_url) == (9001, "http://o:1")
    assert (config.steering_url, config.media_relay) == ("http://s:2", False)
    assert config.tokens.active == "k1"
    with pytest.raises(ConfigError, match="origin_url"):
        load(None, {"WEB_ORIGIN_URL": "ftp://nope"})
    with pytest.raises(ConfigError, match="nonsense"):
        load(None, {"WEB_NONSENSE": "1"})


def test_requests_are_access_logged_with_the_browsers_id_and_no_token(client: httpx.Client,
                                                                      seen: list[httpx.Request]) -> None:
    path = "/s/demo.2000000000.sig/harbour/480p/seg_00001.m4s"
    with captured_access_lines("web") as lines:
        answer = client.get(f"/api/relay/appliance/east-1{path}", headers={"x-request-id": "viewer-42"})
        client.get("/api/origin/v1/titles")
    assert answer.status_code == 206
    assert seen[-2].headers["x-request-id"] == "viewer-42", "the relay forwards the viewer's id"
    relayed = next(line for line in lines if line["path"].startswith("/api/relay/"))
    assert relayed["request_id"] == "viewer-42" and relayed["status"] == 206
    assert "demo.2000000000.sig" not in json.dumps(lines)
    listed = next(line for line in lines if line["path"] == "/api/origin/v1/titles")
    assert "request_id" not in listed or listed["request_id"] is None, "the web server mints no ids"
