"""Series completion and rule routing.

:mod:`hub.routing.completion` decides when a stored series is complete (quiet period,
association released + grace, forced by an admin) and routes it exactly once per completion
run; :mod:`hub.routing.rules` evaluates ``[[routes]]`` and each model's manifest acceptance;
every decision is kept, with its reason, in :class:`hub.routing.models.RoutingDecision`.
"""
