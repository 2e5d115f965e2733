"""The API against its own OpenAPI description, with schemathesis generating the requests."""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.factories import EXAMPLES, add_calls, add_message, make_token

pytestmark = pytest.mark.fuzz


# Schemathesis' WSGI client does not close streamed file responses (the audio); the warning
# that the garbage collector then closes the file is its, not the app's.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_api_conforms_to_its_description(app: Flask) -> None:
    add_calls(app, 3)
    add_message(app)
    headers = {"Authorization": f"Bearer {make_token(app)}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max(20, EXAMPLES // 8),
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case) -> None:
            # Opaque cursors cannot be described by a schema; every other check applies.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        conforms()
