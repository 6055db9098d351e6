"""Resource types. Importing this package registers every type."""

from transom.api.resources import archive, command, environment, files, windows
from transom.api.resources.base import (
    RESOURCE_TYPES,
    Ensure,
    Platform,
    ResourceProperties,
    SecretKeyRef,
    register,
)
from transom.api.resources.entry import Resource, parse_resource, parse_resources

__all__ = [
    "RESOURCE_TYPES",
    "Ensure",
    "Platform",
    "Resource",
    "ResourceProperties",
    "SecretKeyRef",
    "archive",
    "command",
    "environment",
    "files",
    "parse_resource",
    "parse_resources",
    "register",
    "windows",
]
