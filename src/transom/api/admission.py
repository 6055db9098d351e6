"""A ValidatingAdmissionPolicy behind RBAC, in the spirit of NodeRestriction: whatever RBAC
grants by mistake, a host still writes only its own objects, only in its own namespace, and
never its labels (which decide what it is assigned)."""

from __future__ import annotations

from typing import Any

from transom.api.names import HOST_NAMESPACE_PREFIX, HOST_USER_PREFIX, HOSTS_GROUP
from transom.api.wire import GROUP

POLICY_NAME = "transom-host-restriction"
#: Approvals carry their approver's name; this policy makes it the authenticated one.
APPROVAL_POLICY_NAME = "transom-approval-identity"
#: The reboot lease the controller grants in a host's namespace (agent/reboot_lease.py).
REBOOT_LEASE_NAME = "transom-reboot"

_OPS = ["CREATE", "UPDATE", "DELETE"]


def policy() -> dict[str, Any]:
    return _policy(
        POLICY_NAME,
        rules=[
            {
                "apiGroups": [GROUP],
                "apiVersions": ["*"],
                "operations": _OPS,
                "resources": [
                    "hosts",
                    "hosts/status",
                    "assignments",
                    "assignments/status",
                    "hostpreviews",
                    "hostpreviews/status",
                    "configurations",
                    "configurations/status",
                ],
            },
            {
                "apiGroups": ["coordination.k8s.io"],
                "apiVersions": ["*"],
                "operations": _OPS,
                "resources": ["leases"],
            },
            {
                "apiGroups": ["", "events.k8s.io"],
                "apiVersions": ["*"],
                "operations": _OPS,
                "resources": ["events", "secrets"],
            },
        ],
        validations=[
            {
                "expression": "variables.host != ''",
                "message": f"members of {HOSTS_GROUP} must be users {HOST_USER_PREFIX}<name>",
            },
            {
                "expression": "request.resource.resource != 'hosts' || "
                "(request.name == variables.host && variables.subresource == 'status')",
                "messageExpression": "'host ' + variables.host + ' may write only the "
                "status of its own Host, not ' + request.name",
            },
            {
                "expression": "request.resource.resource == 'hosts' || "
                f"request.namespace == '{HOST_NAMESPACE_PREFIX}' + variables.host",
                "messageExpression": "'host ' + variables.host + ' may write only in "
                f"namespace {HOST_NAMESPACE_PREFIX}' + variables.host + ', not ' + "
                "request.namespace",
            },
            {
                "expression": "!(request.resource.resource in ['assignments', "
                "'hostpreviews']) || "
                "(variables.subresource == 'status' && request.operation == 'UPDATE')",
                "message": "hosts may only update the status of their Assignments and HostPreviews",
            },
            {
                "expression": "request.resource.resource != 'secrets' && "
                "request.resource.resource != 'configurations'",
                "message": "hosts may not write Secrets or Configurations",
            },
            {
                # The controller grants the reboot lease; the host only releases it.
                "expression": "request.resource.resource != 'leases' || "
                f"request.name != '{REBOOT_LEASE_NAME}' || "
                "request.operation == 'DELETE'",
                "message": f"hosts may only release (delete) the {REBOOT_LEASE_NAME} "
                "lease the controller grants, not create or change it",
            },
        ],
        extra={
            "matchConditions": [
                {
                    "name": "is-transom-host",
                    "expression": f"'{HOSTS_GROUP}' in request.userInfo.groups",
                }
            ],
            "variables": [
                # subResource is absent, not empty, on requests for the object itself: read it
                # with has(), or the expression fails and the request is refused with a CEL
                # error (422) instead of this policy's message.
                {
                    "name": "subresource",
                    "expression": "has(request.subResource) ? request.subResource : ''",
                },
                {
                    "name": "host",
                    "expression": f"request.userInfo.username.startsWith('{HOST_USER_PREFIX}') ? "
                    f"request.userInfo.username.substring({len(HOST_USER_PREFIX)}) "
                    ": ''",
                },
            ],
        },
    )


def _policy(
    name: str,
    *,
    rules: list[dict[str, Any]],
    validations: list[dict[str, str]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ValidatingAdmissionPolicy that fails closed and denies with 403 Forbidden, as RBAC's
    denials are (the default is 422 Invalid)."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": rules},
            **(extra or {}),
            "validations": [{**v, "reason": "Forbidden"} for v in validations],
        },
    }


def _binding(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }


def _created_or_updated(resource: str) -> list[dict[str, Any]]:
    return [
        {
            "apiGroups": [GROUP],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": [resource],
        }
    ]


PREVIEW_POLICY_NAME = "transom-preview-requester"


def preview_policy() -> dict[str, Any]:
    """Who asked for a Preview is recorded by the requester and checked here: on creation
    ``spec.requestedBy`` must be the requester's own user name, so the record cannot name
    someone else, and the spec cannot change after that."""
    return _policy(
        PREVIEW_POLICY_NAME,
        rules=_created_or_updated("previews"),
        validations=[
            {
                "expression": "request.operation != 'CREATE' || "
                "(has(object.spec) && has(object.spec.requestedBy) && "
                "object.spec.requestedBy == request.userInfo.username)",
                "messageExpression": "'spec.requestedBy must be the requester, ' + "
                "request.userInfo.username",
            },
            {
                "expression": "request.operation != 'UPDATE' || object.spec == oldObject.spec",
                "message": "a Preview's spec cannot be changed",
            },
        ],
    )


def approval_policy() -> dict[str, Any]:
    """Whoever creates an Approval is its approver: ``spec.approver`` must be the user the
    apiserver authenticated, so status, Events and audit name the real person (the CRD's
    own rule keeps the spec from changing afterwards)."""
    return _policy(
        APPROVAL_POLICY_NAME,
        rules=_created_or_updated("approvals"),
        validations=[
            {
                "expression": "object.spec.approver == request.userInfo.username",
                "messageExpression": "'spec.approver must be the requesting user, ' + "
                "request.userInfo.username + ', not ' + object.spec.approver",
            }
        ],
    )


def policies() -> list[dict[str, Any]]:
    """Every policy and its binding, in install order."""
    return [
        policy(),
        _binding(POLICY_NAME),
        preview_policy(),
        _binding(PREVIEW_POLICY_NAME),
        approval_policy(),
        _binding(APPROVAL_POLICY_NAME),
    ]
