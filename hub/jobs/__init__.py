"""Jobs: every inference (routed, REST, manual) is a :class:`~hub.jobs.models.Job` row run by
a Celery task. This package holds the model, the state machine and the services around it.
"""
