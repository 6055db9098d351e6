"""The shared metrics pieces: request labels in the apiserver's terms, listen addresses that
are loopback unless every interface is named, and the endpoint serving one registry."""

from __future__ import annotations

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from transom.kube.address import LOOPBACK, AddressError, parse_address
from transom.kube.client import NO_ANSWER
from transom.kube.metrics import (
    NO_ANSWER_CODE,
    ApiRequestMetrics,
    MetricsServer,
    process_registry,
    request_labels,
)

GROUP = "/apis/transom.dev/v1alpha1"


@pytest.mark.parametrize(
    ("method", "path", "verb", "resource"),
    [
        ("GET", f"{GROUP}/namespaces/transom-host-a/assignments", "list", "assignments"),
        ("GET", f"{GROUP}/namespaces/transom-host-a/assignments/x", "get", "assignments"),
        ("WATCH", "/api/v1/namespaces/transom-host-a/secrets", "watch", "secrets"),
        ("PATCH", f"{GROUP}/hosts/web01/status", "patch", "hosts/status"),
        ("PATCH", f"{GROUP}/namespaces/n/assignments/x/status", "patch", "assignments/status"),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/n/leases/web01", "update", "leases"),
        (
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            "create",
            "selfsubjectreviews",
        ),
        ("DELETE", "/api/v1/namespaces/n/secrets/s", "delete", "secrets"),
        ("DELETE", "/api/v1/namespaces/n/secrets", "deletecollection", "secrets"),
        ("GET", "/api/v1/namespaces/transom-host-a", "get", "namespaces"),
        ("GET", "/api/v1/namespaces", "list", "namespaces"),
        ("PUT", "/api/v1/namespaces/n/finalize", "update", "namespaces/finalize"),
        ("GET", f"{GROUP}/hosts?labelSelector=a%3Db", "list", "hosts"),
        ("GET", "/version", "get", "/version"),
        ("GET", "/apis", "get", "/apis"),
    ],
)
def test_request_labels_use_the_apiservers_verbs_and_resources(
    method: str, path: str, verb: str, resource: str
) -> None:
    assert request_labels(method, path) == (verb, resource)


_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)


@given(
    method=st.sampled_from(["GET", "WATCH", "POST", "PUT", "PATCH", "DELETE"]),
    namespace=_segment,
    name=_segment,
)
def test_object_names_never_become_labels(method: str, namespace: str, name: str) -> None:
    """Label values are bounded by the kinds, never by namespaces or object names."""
    for path in (
        f"{GROUP}/namespaces/{namespace}/assignments/{name}",
        f"{GROUP}/namespaces/{namespace}/assignments/{name}/status",
        f"{GROUP}/hosts/{name}",
    ):
        verb, resource = request_labels(method, path)
        assert resource in {"assignments", "assignments/status", "hosts"}
        assert verb in {"get", "list", "watch", "create", "update", "patch", "delete"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9464", (LOOPBACK, 9464)),
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),  # noqa: S104 - every interface, named
        ("[::1]:9464", ("::1", 9464)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (":8080", "give the host too"),
        ("::1:80", "brackets"),
        ("host:http", "port must be a number"),
        ("70000", "port must be a number"),
        ("", "port must be a number"),
        ("a b:1", "HOST:PORT"),
    ],
)
def test_bad_addresses_say_what_is_allowed(text: str, says: str) -> None:
    with pytest.raises(AddressError, match=says):
        parse_address(text)


@given(port=st.integers(0, 65535))
def test_a_bare_port_is_loopback_only(port: int) -> None:
    assert parse_address(str(port)) == (LOOPBACK, port)


def test_request_counter_labels_codes_and_missing_answers() -> None:
    registry = CollectorRegistry()
    metrics = ApiRequestMetrics(registry)
    metrics.request_done("GET", f"{GROUP}/hosts/a", 200)
    metrics.request_done("GET", f"{GROUP}/hosts/b", 200)
    metrics.request_done("GET", f"{GROUP}/hosts/c", 404)
    metrics.request_done("PATCH", f"{GROUP}/hosts/a/status", NO_ANSWER)

    def value(**labels: str) -> float | None:
        return registry.get_sample_value("transom_api_requests_total", labels)

    assert value(verb="get", resource="hosts", code="200") == 2
    assert value(verb="get", resource="hosts", code="404") == 1
    assert value(verb="patch", resource="hosts/status", code=NO_ANSWER_CODE) == 1


def test_each_registry_is_its_own() -> None:
    """Two agents in one process: their counters never mix (no global registry)."""
    one, two = process_registry(), process_registry()
    ApiRequestMetrics(one).request_done("GET", "/version", 200)
    ApiRequestMetrics(two)
    labels = {"verb": "get", "resource": "/version", "code": "200"}
    assert one.get_sample_value("transom_api_requests_total", labels) == 1
    assert two.get_sample_value("transom_api_requests_total", labels) is None


async def test_the_server_serves_its_registry_and_nothing_else() -> None:
    registry = CollectorRegistry()
    Counter("transom_test_things", "Things.", registry=registry).inc(3)
    async with MetricsServer(registry, "127.0.0.1", 0) as server, aiohttp.ClientSession() as http:
        assert server.port != 0 and server.url.endswith(f":{server.port}/metrics")
        async with http.get(server.url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
        assert families["transom_test_things"].samples[0].value == 3
        headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
        async with http.get(server.url, headers=headers) as resp:
            assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
            assert (await resp.text()).rstrip().endswith("# EOF")
        async with http.get(server.url.replace("/metrics", "/")) as resp:
            assert resp.status == 404
        async with http.post(server.url) as resp:
            assert resp.status == 405


async def test_a_port_in_use_is_a_clear_error() -> None:
    registry = CollectorRegistry()
    async with MetricsServer(registry, "127.0.0.1", 0) as taken:
        with pytest.raises(AddressError, match=f"cannot serve metrics on 127.0.0.1:{taken.port}"):
            await MetricsServer(registry, "127.0.0.1", taken.port).start()
