"""DICOM networking: the pynetdicom SCU (:mod:`hub.dimse.scu`: echo and C-STORE with a check
of every response) today; the SCP (echo, store, find, get/move) and the outbox come next.

Rule: this package never imports :mod:`hub.web` (a test enforces it); the two meet in the
database and the job queue.
"""
