"""All hook specifications of the hub. Each docstring is the hook's whole contract.

Plugins implement hooks with ``hub.sdk.hookimpl``; an implementation may accept fewer
arguments than the spec lists, so the hub can add arguments without breaking plugins.
"""

from __future__ import annotations

from collections.abc import Sequence

import pluggy

from hub.sdk.plugin import PROJECT_NAME, ModelPlugin

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def hub_models() -> Sequence[ModelPlugin]:
    """Return the model plugins this plugin module provides.

    When called: once per process, when the plugin registry loads (CLI start, worker start).

    Arguments: none today; later hub versions may pass more, and implementations that take
    fewer arguments keep working.

    Returns: a sequence of :class:`hub.sdk.ModelPlugin` instances (or classes, which the hub
    instantiates with no arguments). Each must carry a valid ``manifest``.

    Errors: an exception raised here disables every model of this plugin module only, with
    finding ``plugins.E002``; a :class:`hub.errors.ManifestError` is reported as
    ``plugins.E009`` naming the field. Other plugins keep loading.
    """
