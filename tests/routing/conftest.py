"""Fixtures of the routing tests: empty index/decision/job tables, stored phantom series.

Job messages are not sent to a broker: ``hub.jobs.services.enqueue`` is replaced by a
recorder, so the tests can check that messages go out only after the routing transaction
commits. The models are the example plugins installed in the venv: ct-lung-seg (CT, at
least 8 slices) and mr-brain-extract (MR, at least 16 slices).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from routing_helpers import write


@pytest.fixture
def routing_tables(database: str) -> Iterator[None]:
    """Empty series, instance, decision and job tables for one test."""
    from hub.jobs.models import Job
    from hub.routing.models import RoutingDecision
    from hub.storage.models import Instance, Series

    def clear() -> None:
        RoutingDecision.objects.all().delete()
        Instance.objects.all().delete()
        Series.objects.all().delete()
        Job.objects.all().delete()

    clear()
    yield
    clear()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Ids of the jobs whose message would have been sent (after commit)."""
    from hub.jobs import services

    messages: list[int] = []
    monkeypatch.setattr(services, "enqueue", lambda job, countdown=None: messages.append(job.pk))
    return messages


@pytest.fixture
def hub_db(routing_tables: None, sent: list[int]) -> list[int]:
    """Database ready, tables empty, job messages recorded; returns the sent job ids."""
    return sent


@pytest.fixture
def store_series(tmp_path: Path) -> Callable[..., str]:
    """Write a phantom series and store it as the SCP would; returns its SeriesInstanceUID."""
    from hub.storage.store import store_instance

    def store(
        *, calling_ae: str = "CT01", called_ae: str = "PACSHUB", source: str = "scp",
        **options: object,
    ) -> str:
        folder = tmp_path / f"src-{uuid.uuid4().hex[:8]}"
        uid = ""
        for path in write(folder, **options):  # type: ignore[arg-type]
            uid = store_instance(
                path.read_bytes(), calling_ae=calling_ae, called_ae=called_ae, source=source
            ).series_instance_uid
        return uid

    return store
