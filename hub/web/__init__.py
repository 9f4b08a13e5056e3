"""The web layer: one ASGI app for the REST API, WebSocket, DICOMweb and (later) the Django UI.

:mod:`hub.web.app` builds it; ``pacs-hub web`` serves it with uvicorn. Rule: this package never
imports :mod:`hub.dimse` (a test enforces it); the two meet in the database and the job queue.
"""
