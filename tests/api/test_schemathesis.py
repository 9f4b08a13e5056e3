"""Property tests of the REST API against its own OpenAPI schema (schemathesis's Python API on
the in-process ASGI app): whatever schemathesis sends, with a valid admin token, the hub
never answers 5xx.

Bounded: at most ``MAX_EXAMPLES`` cases per operation, derandomized (the whole test runs in
well under two minutes on two cores); uploads are generated multipart bodies, refused without
storing anything.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from hub.web.app import create_app

MAX_EXAMPLES = 25


@pytest.fixture
def admin_headers(database: str, jobs_table: None) -> Iterator[dict[str, str]]:
    """An admin's API token (every permission), so requests pass authentication."""
    from django.contrib.auth import get_user_model

    from hub.accounts.models import ApiToken
    from hub.accounts.roles import sync_roles
    from hub.accounts.services import create_token, create_user

    ApiToken.objects.all().delete()
    get_user_model().objects.all().delete()
    sync_roles()
    user = create_user("fuzz-admin", "admin", "correct-horse-battery-9")
    yield {"Authorization": f"Bearer {create_token(user, 'fuzz', ['admin'])[1]}"}
    ApiToken.objects.all().delete()
    get_user_model().objects.all().delete()


def test_no_server_errors_on_any_operation(admin_headers: dict[str, str]) -> None:
    # loaded here, not at import: loading runs the app's lifespan, which sets Django up, and
    # Django must by then point at the test database
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())
    failures: list[str] = []
    tested: list[str] = []
    statuses: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        tested.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=admin_headers)
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.label}: {exc}"[:2000])
    assert len(tested) >= 13, tested
    assert len(statuses) > 5 * len(tested)
    assert {200, 404, 415, 422} <= set(statuses), sorted(set(statuses))
    assert not failures, "\n\n".join(failures)
