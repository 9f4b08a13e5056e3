"""DICOM networking: the pynetdicom SCP (echo, store, find, get/move) and the SCU outbox.

Not part of this release yet. Rule: this package never imports :mod:`hub.web` (a test enforces
it); the two meet in the database and the job queue.
"""
