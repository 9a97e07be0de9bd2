"""Loading outside backends (detectors, embedders, clusterers).

A plugin is a module that registers its backends on import, exactly as the
built-ins do. Plugins are named in ``$FACEFILE_PLUGINS`` (comma-separated
module names) or published under the ``facefile.plugins`` entry-point group.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

from facefile.errors import ConfigError

_loaded: set[str] = set()


def load_plugins() -> list[str]:
    """Import every configured plugin once; return the names newly loaded.

    Raises:
        ConfigError: a plugin named in ``$FACEFILE_PLUGINS`` cannot be imported.
    """
    names = [n.strip() for n in os.environ.get("FACEFILE_PLUGINS", "").split(",") if n.strip()]
    loaded: list[str] = []
    for name in names:
        if name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(
                f"Cannot import plugin {name!r} named in $FACEFILE_PLUGINS ({exc}); "
                "check the module name and that it is installed."
            ) from None
        _loaded.add(name)
        loaded.append(name)
    for ep in entry_points(group="facefile.plugins"):
        if ep.name not in _loaded:
            ep.load()
            _loaded.add(ep.name)
            loaded.append(ep.name)
    return loaded
