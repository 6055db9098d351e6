"""Start-up work the `transom` process skips, done before any command module is imported.

Three third-party imports do work at import time that no `transom` command uses, and together
they are a sixth of a `transom apply`'s instructions (bench/engine_bench.py measures it):

- pydantic looks for plugins (``pydantic`` entry points) when it builds the first model, and
  importing its loader imports ``importlib.metadata`` (with ``email``, ``zipfile``, ``csv``,
  ``socket``). Transom installs no pydantic plugin and runs with them off, as
  ``PYDANTIC_DISABLE_PLUGINS=__all__`` does; a user who sets that variable to something else
  gets pydantic's own loader.
- PyYAML compiles ``Reader.NON_PRINTABLE``, a character class spanning all of Unicode, when
  ``yaml`` is imported. Only the pure-Python reader uses it; Transom reads YAML with libyaml's
  (``CSafeLoader``). The pattern is compiled on first use instead, so the pure-Python reader
  still behaves exactly as PyYAML's.
- pydantic_core declares its schemas as some 90 TypedDicts with string annotations, and
  ``typing.ForwardRef`` compiles each of those 700 strings to code when the class is made,
  though nothing evaluates them unless asked for the TypedDict's type hints. While
  pydantic_core is imported, a forward reference keeps its source instead, which ``eval``
  compiles if it is ever evaluated: the same value, compiled on use.
"""

from __future__ import annotations

import os
import re
import sys
import types
import typing
from collections.abc import Iterable
from typing import Any

#: pydantic's module that finds plugins; its ``get_plugins()`` is all pydantic calls.
PYDANTIC_PLUGIN_LOADER = "pydantic.plugin._loader"
PYDANTIC_DISABLE_PLUGINS = "PYDANTIC_DISABLE_PLUGINS"
#: The values by which pydantic itself disables every plugin.
_ALL_DISABLED = ("__all__", "1", "true")
#: PyYAML's reader.NON_PRINTABLE, character for character (PyYAML 5.1 to 6.0).
YAML_NON_PRINTABLE = "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


def prepare() -> None:
    """Skip both, unless the module concerned was imported already."""
    without_pydantic_plugins()
    yaml_without_eager_patterns()
    pydantic_core_without_eager_forward_refs()


def without_pydantic_plugins() -> None:
    if PYDANTIC_PLUGIN_LOADER in sys.modules:
        return
    if os.environ.get(PYDANTIC_DISABLE_PLUGINS, "__all__") not in _ALL_DISABLED:
        return
    loader = types.ModuleType(PYDANTIC_PLUGIN_LOADER, "pydantic plugins: off (transom.cli)")

    def get_plugins() -> Iterable[Any]:
        return ()

    loader.get_plugins = get_plugins  # type: ignore[attr-defined]
    sys.modules[PYDANTIC_PLUGIN_LOADER] = loader


class LazyPattern:
    """A compiled pattern that compiles on first use: every attribute is the real one's."""

    def __init__(self, pattern: str, flags: int) -> None:
        self._source = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(*self._source)
        return getattr(self._compiled, name)


def yaml_without_eager_patterns() -> None:
    if "yaml" in sys.modules:
        return
    compile_ = re.compile

    def lazily(pattern: Any, flags: int = 0) -> Any:
        if pattern == YAML_NON_PRINTABLE and flags == 0:
            return LazyPattern(pattern, flags)
        return compile_(pattern, flags)

    re.compile = lazily
    try:
        import yaml  # noqa: F401  (imported here, with the lazy pattern)
    finally:
        re.compile = compile_


def _source(source: str, filename: str, mode: str) -> str:
    """What ``typing.ForwardRef`` keeps instead of ``compile(source, filename, "eval")``:
    ``eval`` takes either, and compiles a string itself."""
    return source


def pydantic_core_without_eager_forward_refs() -> None:
    if "pydantic_core" in sys.modules:
        return
    # ForwardRef.__init__ is typing's only caller of compile(), looked up in typing's globals
    # before the builtins; only ForwardRefs made during this import are affected.
    typing.compile = _source  # type: ignore[attr-defined]
    try:
        import pydantic_core  # noqa: F401  (imported here, with forward references lazy)
    finally:
        del typing.compile  # type: ignore[attr-defined]
