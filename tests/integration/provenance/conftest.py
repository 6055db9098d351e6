"""The controller fixtures of tests/integration/controller."""

from tests.integration.controller.conftest import fleet

__all__ = ["fleet"]
