"""The OpenAPI spec and the server agree on every optimizer: the spec's schema for each type
lists exactly the fields the server fills in, with the same defaults, and the server refuses a
field the schema does not have, naming it."""

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml").read_text())
SCHEMAS = SPEC["components"]["schemas"]
TYPES = SCHEMAS["OptimizerType"]["enum"]


def schema_for(type_name):
    ref = SCHEMAS["Optimizer"]["discriminator"]["mapping"][type_name]
    return SCHEMAS[ref.rsplit("/", 1)[1]]


def default_of(prop):
    if "$ref" in prop:
        prop = SCHEMAS[prop["$ref"].rsplit("/", 1)[1]]
    return prop.get("default")


def request(url, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_every_type_has_one_schema_in_the_oneof_and_the_mapping():
    refs = [o["$ref"] for o in SCHEMAS["Optimizer"]["oneOf"]]
    assert len(refs) == len(set(refs)) == len(TYPES)
    assert set(SCHEMAS["Optimizer"]["discriminator"]["mapping"]) == set(TYPES)


@pytest.mark.parametrize("type_name", TYPES)
def test_server_fills_in_exactly_the_schemas_fields_and_defaults(stepd_url, type_name):
    sid = f"cat-{type_name}"
    status, body = request(stepd_url, "POST", "/v1/sessions",
                           {"id": sid, "optimizer": {"type": type_name},
                            "params": [{"name": "w", "shape": [1, 3], "values": [1, 2, 3]}]})
    assert status == 201, body
    try:
        status, info = request(stepd_url, "GET", f"/v1/sessions/{sid}")
        assert status == 200
        got = info["config"]["optimizer"]
        schema = schema_for(type_name)
        assert set(got) == set(schema["properties"]), f"server {sorted(got)} vs spec {sorted(schema['properties'])}"
        for key, prop in schema["properties"].items():
            if key == "type":
                continue
            want = default_of(prop)
            if want is None or isinstance(want, str) or (isinstance(want, list) and None in want):
                assert got[key] == want, key
            else:
                assert got[key] == pytest.approx(want), key
        # One step works with the defaults (a 1x3 matrix: Muon takes matrices only).
        status, step = request(stepd_url, "POST", f"/v1/sessions/{sid}/steps", {"grads": {"w": [0.1, -0.2, 0.3]}})
        assert status == 200 and step["step"] == 1, step
    finally:
        request(stepd_url, "DELETE", f"/v1/sessions/{sid}")


@pytest.mark.parametrize("type_name", TYPES)
def test_a_field_outside_the_schema_is_refused_naming_it(stepd_url, type_name):
    status, body = request(stepd_url, "POST", "/v1/sessions",
                           {"optimizer": {"type": type_name, "learning_rate": 0.1},
                            "params": [{"name": "w", "shape": [1], "values": [1]}]})
    assert status == 422, body
    assert body["field"] == "optimizer.learning_rate"


@pytest.mark.parametrize("type_name", TYPES)
def test_the_state_dtypes_the_schema_allows_are_the_ones_the_server_keeps(stepd_url, type_name):
    allowed = schema_for(type_name)["properties"]["state_dtype"]["enum"]
    for dtype in ["f32", "bf16", "q8"]:
        status, body = request(stepd_url, "POST", "/v1/sessions",
                               {"optimizer": {"type": type_name, "state_dtype": dtype},
                                "params": [{"name": "w", "shape": [1, 3], "values": [1, 2, 3]}]})
        if dtype in allowed:
            assert status == 201, (dtype, body)
            assert body["config"]["optimizer"]["state_dtype"] == dtype
            request(stepd_url, "DELETE", f"/v1/sessions/{body['id']}")
        else:
            assert status == 422, (dtype, body)
            assert body["field"] == "optimizer.state_dtype"
