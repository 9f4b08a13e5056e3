"""DICOM networking, both directions:

- :mod:`hub.dimse.scp` / :mod:`hub.dimse.receive`: the SCP (C-ECHO, C-STORE into durable
  storage, access checks, limits), and :mod:`hub.dimse.qr` with its ``qr_*`` modules:
  query/retrieve (C-FIND, C-GET, C-MOVE) over what the hub holds, results included;
- :mod:`hub.dimse.scu`: echo and C-STORE with a check of every response and a resend of what
  was not confirmed;
- :mod:`hub.dimse.outbox` / :mod:`hub.dimse.delivery` / :mod:`hub.dimse.tasks`: results of
  succeeded jobs stored in the hub and delivered to the route's ``send_to`` peers (SEG before
  the SR that references it), with retries, backoff and a dead-letter state.

Rule: this package never imports :mod:`hub.web` (a test enforces it); the two meet in the
database and the job queue.
"""
