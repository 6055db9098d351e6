"""Resource types. catalog.py lists every type; a type's model is imported when first used."""

from transom.api.resources.base import (
    RESOURCE_TYPES,
    Ensure,
    ResourceProperties,
    SecretKeyRef,
    absent_twin,
)
from transom.api.resources.catalog import TYPES, Platform, ResourceType
from transom.api.resources.entry import Resource, parse_resource, parse_resources

__all__ = [
    "RESOURCE_TYPES",
    "TYPES",
    "Ensure",
    "Platform",
    "Resource",
    "ResourceProperties",
    "ResourceType",
    "SecretKeyRef",
    "absent_twin",
    "parse_resource",
    "parse_resources",
]
