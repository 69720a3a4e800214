"""The API describes itself: the OpenAPI schema, its docs page, the health check."""

import json

import yaml
from django.core.management import call_command


def test_schema_is_openapi_3_with_the_lead_endpoints(counselor, client_for):
    response = client_for(counselor).get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/leads/"])
    assert {"get", "put", "patch"} <= set(paths["/api/v1/leads/{id}/"])
    assert "delete" not in paths["/api/v1/leads/{id}/"]
    assert "post" in paths["/api/v1/leads/{id}/transition/"]
    assert {"get", "post"} <= set(paths["/api/v1/leads/{id}/notes/"])
    assert "get" in paths["/api/v1/leads/{id}/timeline/"]
    assert "post" in paths["/api/v1/auth/token/"]


def test_schema_generates_and_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"

    # --fail-on-warn turns every warning and error of the generator into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    assert "/api/v1/leads/{id}/transition/" in schema["paths"]


def test_docs_page_loads_swagger_ui_from_local_static_files(counselor, client):
    client.force_login(counselor)

    response = client.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn.jsdelivr" not in html


def test_health_check_answers_ok(db, client):
    response = client.get("/healthz/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
