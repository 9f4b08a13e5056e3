"""Database fixtures (``database``, ``jobs_table``) live in ``tests/conftest.py`` so the job
tests share them: the embedded SQLite file by default, PostgreSQL when ``PACS_HUB_DATABASE_URL``
says so (``make test`` runs the data-layer and job tests both ways).
"""
