"""The OpenAPI document is complete, and schemathesis finds no 5xx and no response that contradicts it.

The fixture app answers with the DeepSeek wire-format server on loopback (no real model), over a
private copy of the small collection; the rate limit is off so generated requests are not refused.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from tests.api.helpers import as_loopback_peer, make_api_settings, make_settings

CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


@pytest.fixture(scope="module")
def app(data_dir, model_server, embedder):
    app = create_app(make_settings(data_dir, model_server), make_api_settings(), embedder=embedder)
    with TestClient(app):  # runs the lifespan: the ingest worker runs while schemathesis calls the app
        yield app


@pytest.fixture(scope="module")
def api_schema(app):
    schemathesis.experimental.OPEN_API_3_1.enable()  # FastAPI writes OpenAPI 3.1
    return schemathesis.from_asgi("/openapi.json", as_loopback_peer(app))


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_no_server_errors_and_responses_match_the_document(case, _deepseek_key):
    response = case.call()
    case.validate_response(response, checks=CHECKS)


def test_every_operation_documents_its_bodies_and_errors(app):
    document = app.openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            responses = operation["responses"]
            success = [code for code in responses if code.startswith("2")]
            assert success, where
            assert all(responses[code].get("content") for code in success), where
            if path.startswith("/v1/"):
                assert {"401", "429"} <= set(responses), where
                for code, response in responses.items():
                    if code.startswith(("4", "5")):
                        assert response["content"]["application/json"]["schema"] == {
                            "$ref": "#/components/schemas/ErrorResponse"}, (where, code)
            if "requestBody" in operation:
                content = operation["requestBody"]["content"]
                assert any("$ref" in media["schema"] for media in content.values()), where
    assert "HTTPBearer" in document["components"]["securitySchemes"]
