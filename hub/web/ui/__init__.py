"""The web app radiologists, ML engineers and admins use (Django, server-rendered).

Pages: login/logout/password (``/accounts/``), worklist (``/worklist/``), reports
(``/reports/<study>/``), plugins and models (``/plugins/``), jobs (``/jobs/``), routes and
peers (``/routes/``), API tokens (``/tokens/``), audit (``/audit/``) and Django's admin
(``/admin/``). Every page and action checks a permission of the user's role
(:mod:`hub.accounts.roles`) through :mod:`hub.web.ui.access`; every notable action is
written to the audit log (:func:`hub.web.ui.audit.record`).

Django runs inside the hub's one ASGI app: :func:`hub.web.app.mount_ui` mounts it at ``/``
(after the API routes) and serves ``/static/`` from Django's static-file finders.
"""
