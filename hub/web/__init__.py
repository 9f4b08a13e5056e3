"""The FastAPI app (REST, WebSocket, DICOMweb) and the Django project (UI, users, admin).

Not part of this release yet. Rule: this package never imports :mod:`hub.dimse` (a test
enforces it); the two meet in the database and the job queue.
"""
