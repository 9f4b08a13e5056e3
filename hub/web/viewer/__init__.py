"""The viewer's server side: rendered frames with SEG overlays, live study updates.

- ``GET /api/v1/viewer/frames/{sop_instance_uid}/{frame}`` (:mod:`.frames`);
- ``GET /api/v1/viewer/stream/{study}`` Server-Sent Events and ``WS /ws/viewer/{study}``
  (:mod:`.live`).

:mod:`hub.web.viewer.routes` assembles them (include ``router`` under ``/api/v1`` and
``ws_router`` at the root).
"""
