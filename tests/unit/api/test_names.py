"""Names derived from user names stay valid for every name the CRDs admit (defect: a long
Configuration name made Assignment names and labels the apiserver rejects)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from transom.api import names

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

dns_labels = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
#: Any name Kubernetes admits for a custom resource or a Secret: a DNS subdomain, up to the
#: longest.
subdomains = (
    st.lists(dns_labels, min_size=1, max_size=8)
    .map(".".join)
    .map(lambda s: s[: names.MAX_NAME].rstrip(".-"))
    .filter(lambda s: bool(DNS_SUBDOMAIN.match(s)))
)


def subdomain(value: str) -> bool:
    return len(value) <= names.MAX_NAME and bool(DNS_SUBDOMAIN.match(value))


@given(dns_labels, subdomains)
def test_derived_names_are_valid_for_every_admitted_name(namespace: str, name: str) -> None:
    assert subdomain(names.assignment_name(namespace, name))
    assert subdomain(names.copied_secret_name(namespace, name))
    label = names.configuration_label(namespace, name)
    assert len(label) <= names.MAX_LABEL_VALUE and LABEL_VALUE.match(label)
    assert subdomain(names.event_name(names.assignment_name(namespace, name), "0123456789abcdef"))


@given(dns_labels, subdomains)
def test_short_names_are_kept_as_they_were(namespace: str, name: str) -> None:
    full = f"{namespace}.{name}"
    if len(full) <= names.MAX_NAME:
        assert names.assignment_name(namespace, name) == full
    if len(full) <= names.MAX_LABEL_VALUE:
        assert names.configuration_label(namespace, name) == full


@given(dns_labels, subdomains, subdomains)
def test_distinct_configurations_get_distinct_names(namespace: str, a: str, b: str) -> None:
    if a != b:
        assert names.assignment_name(namespace, a) != names.assignment_name(namespace, b)
        assert names.configuration_label(namespace, a) != names.configuration_label(namespace, b)


def test_the_longest_names_are_shortened_with_a_hash() -> None:
    namespace, name = "n" * 63, "c" * 253
    shortened = names.assignment_name(namespace, name)
    assert len(shortened) == names.MAX_NAME and shortened.startswith("n" * 63 + ".")
    assert names.assignment_name(namespace, name) == shortened  # deterministic


@given(
    st.text(min_size=names.MAX_LABEL_VALUE // 2, max_size=2 * names.MAX_NAME),
    st.integers(min_value=names.MAX_LABEL_VALUE, max_value=names.MAX_NAME),
)
def test_shortened_values_fit_in_bytes_not_only_characters(value: str, limit: int) -> None:
    # The apiserver counts a name's bytes: a character outside ASCII is more than one.
    shortened = names.shorten(value, limit)
    assert len(shortened.encode()) <= limit
    if len(value.encode()) <= limit:
        assert shortened == value
