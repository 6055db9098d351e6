"""Every write round-trips arbitrary Unicode through the real apiserver (defect: an emoji
became a surrogate-pair escape that the apiserver's YAML decoder of apply patches rejects)."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transom.kube.client import Kube
from transom.kube.kinds import Kind

pytestmark = pytest.mark.controlplane

CONFIG_MAPS = Kind("", "v1", "configmaps", kind="ConfigMap")

#: Any character, weighted towards those that broke or could break.
texts = st.text(
    st.one_of(
        st.characters(),
        st.sampled_from('😀𝄞\U0010ffff\u2028\u2029\x85\x7f\ufeff\ufffd\x00\t\n"\\'),
    ),
    max_size=40,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=texts)
async def test_apply_create_and_patch_keep_every_character(
    kube: Kube, namespace: str, value: str
) -> None:
    name = f"u-{secrets.token_hex(4)}"
    # A lone surrogate is no Unicode text; it arrives as U+FFFD, as Go reads invalid UTF-8.
    sent, value = value, "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "annotations": {"a": sent}},
        "data": {"v": sent},
    }
    applied = await kube.apply(CONFIG_MAPS.path(namespace, name), body)
    assert applied["data"]["v"] == value and applied["metadata"]["annotations"]["a"] == value
    patched = await kube.patch(CONFIG_MAPS.path(namespace, name), {"data": {"w": sent}})
    assert patched["data"] == {"v": value, "w": value}
    created = await kube.create(
        CONFIG_MAPS.path(namespace),
        {**body, "metadata": {"name": f"{name}-c", "namespace": namespace}},
    )
    assert created["data"]["v"] == value
    read = await kube.get(CONFIG_MAPS.path(namespace, name))
    assert read["data"] == {"v": value, "w": value}
