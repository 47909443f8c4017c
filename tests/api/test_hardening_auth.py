"""Issue 14's authentication findings: uploads refused before their body is read, a throttle on bad keys,
refusals in the audit log, job ids that reveal no collection, private files, key names the API accepts,
and the constant-time key check."""

from __future__ import annotations

import io
import json
import os
import stat

import pytest

from api.jobs.uploads import IncomingFile, store_uploads
from api.keys import KeyStore
from api.ratelimit import FailedAuthThrottle
from tests.api.helpers import COLLECTION, LOOPBACK, make_api_settings

UPLOAD = f"/v1/collections/{COLLECTION}/documents"
BOUNDARY = "verirag-test-boundary"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_lines(client) -> list[dict]:
    return [json.loads(line) for line in client.app.state.verirag.audit.path.read_text().splitlines()]


# -- uploads: the key is checked before the body is read ------------------------------------------


def stream_upload(client, headers: dict[str, str], total_bytes: int, address: str = "127.0.0.1") -> tuple[int, int]:
    """POST a multipart upload of ``total_bytes`` straight into the ASGI app, 1 MiB a message, and count
    what the app pulled: (status, bytes received by the app)."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\n"
            "Content-Type: text/plain\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    filler = total_bytes - len(head) - len(tail)
    pulled = 0
    status = []

    async def receive():
        nonlocal pulled
        if pulled >= total_bytes:
            return {"type": "http.disconnect"}
        if pulled == 0:
            body = head
        elif pulled + (1 << 20) < len(head) + filler:
            body = b"x" * (1 << 20)
        else:
            body = b"x" * (len(head) + filler - pulled) + tail
        pulled += len(body)
        return {"type": "http.request", "body": body, "more_body": pulled < total_bytes}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": UPLOAD, "raw_path": UPLOAD.encode(), "root_path": "", "query_string": b"",
        "client": (address, 40000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"testserver"), (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
                    (b"content-length", str(total_bytes).encode())]
                   + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    client.portal.call(client.app, scope, receive, send)
    return status[0], pulled


@pytest.fixture
def keyed(client_for):
    """A client whose server has keys: write on the collection, read on it, write on another."""
    client = client_for(make_api_settings())
    store = client.app.state.verirag.keys
    client.tokens = {
        "write": store.create([COLLECTION], "write")[1],
        "read": store.create([COLLECTION], "read")[1],
        "other": store.create(["other"], "admin")[1],
    }
    return client


def test_a_refused_upload_is_answered_before_its_body_is_read(keyed):
    fifty_mb = 50 * 1000 * 1000
    refusals = {
        "no key": ({}, 401),
        "unknown key": (bearer("vrk_0123456789ab_" + "A" * 43), 401),
        "another collection's key": (bearer(keyed.tokens["other"]), 403),
        "read-only key": (bearer(keyed.tokens["read"]), 403),
    }
    for name, (headers, expected) in refusals.items():
        status, pulled = stream_upload(keyed, headers, fifty_mb)
        assert (status, pulled) == (expected, 0), name

    # The control: the same upload with a write key is read to the end and accepted.
    status, pulled = stream_upload(keyed, bearer(keyed.tokens["write"]), 2 * 1000 * 1000)
    assert (status, pulled) == (202, 2 * 1000 * 1000)


# -- failed authentication is throttled per address ------------------------------------------------


def test_an_address_sending_bad_keys_gets_429_then_recovers():
    now = [0.0]
    throttle = FailedAuthThrottle(per_minute=60, burst=2, clock=lambda: now[0])
    throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == 0.0
    throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == pytest.approx(1.0)
    assert throttle.wait("10.0.0.2") == 0.0  # per address
    now[0] += 1.0
    assert throttle.wait("10.0.0.1") == 0.0


def test_bad_keys_are_throttled_and_then_even_a_good_key_waits(client_for):
    client = client_for(make_api_settings(auth_failures_per_minute=1, auth_failures_burst=3))
    good = client.app.state.verirag.keys.create([COLLECTION], "read")[1]
    bad = bearer("vrk_0123456789ab_" + "A" * 43)

    statuses = [client.get("/v1/models", headers=bad).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    refused = client.get("/v1/models", headers=bearer(good))
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["type"] == "rate_limited"
    assert "VERIRAG_API_AUTH_FAILURES_PER_MINUTE" in refused.json()["error"]["message"]
    # uploads are throttled too, before their body is read
    assert stream_upload(client, bearer(good), 1000, address=LOOPBACK["client"][0])[0] == 429

    from fastapi.testclient import TestClient

    with TestClient(client.app, client=("10.9.9.9", 1234)) as elsewhere:  # another address is not throttled
        assert elsewhere.get("/v1/models", headers=bearer(good)).status_code == 200
    assert "verirag_auth_throttled_total 4.0" in client.get("/metrics").text


def test_good_keys_spend_nothing_from_the_throttle(client_for):
    client = client_for(make_api_settings(auth_failures_per_minute=1, auth_failures_burst=1))
    good = client.app.state.verirag.keys.create([COLLECTION], "read")[1]
    assert all(client.get("/v1/models", headers=bearer(good)).status_code == 200 for _ in range(5))


# -- refusals are audited, without secrets ---------------------------------------------------------


def test_401_and_403_are_audited_with_who_where_and_no_secret(keyed):
    unknown = "vrk_0123456789ab_" + "S" * 43
    keyed.get("/v1/models")
    keyed.get("/v1/models", headers=bearer(unknown))
    keyed.get("/v1/models", headers=bearer("sk-some-other-secret"))
    keyed.get("/v1/collections/other", headers=bearer(keyed.tokens["read"]))
    stream_upload(keyed, bearer(keyed.tokens["read"]), 1000)

    denied = [line for line in audit_lines(keyed) if line["action"] == "denied"]
    assert [(d["status"], d["route"]) for d in denied] == [
        (401, "/v1/models"), (401, "/v1/models"), (401, "/v1/models"),
        (403, "/v1/collections/{name}"), (403, "/v1/collections/{name}/documents"),
    ]
    read_key_id = keyed.tokens["read"].split("_")[1]
    assert [d["key_id"] for d in denied] == [None, "0123456789ab", None, read_key_id, read_key_id]
    assert denied[3]["collection"] == "other" and denied[4]["collection"] == COLLECTION
    assert all(d["client"] and d["request_id"] for d in denied)
    text = keyed.app.state.verirag.audit.path.read_text()
    assert "S" * 43 not in text and "sk-some-other-secret" not in text
    assert keyed.tokens["read"].split("_", 2)[2] not in text


# -- a job id reveals nothing about collections a key may not read ---------------------------------


def test_a_job_of_another_collection_is_answered_like_a_missing_job(keyed):
    accepted = keyed.post(UPLOAD, headers=bearer(keyed.tokens["write"]),
                          files=[("files", ("note.txt", b"A short note.", "text/plain"))]).json()
    theirs = keyed.get(accepted["status_url"], headers=bearer(keyed.tokens["other"]))
    missing = keyed.get("/v1/jobs/" + "0" * 32, headers=bearer(keyed.tokens["other"]))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["type"] == missing.json()["error"]["type"] == "job_not_found"
    assert COLLECTION not in theirs.text
    assert keyed.get(accepted["status_url"], headers=bearer(keyed.tokens["read"])).status_code == 200


# -- files only the server's user may read ---------------------------------------------------------


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_keys_audit_and_uploads_are_private_whatever_the_umask(client_for):
    previous = os.umask(0o022)
    try:
        client = client_for(make_api_settings())
        state = client.app.state.verirag
        state.keys.create([COLLECTION], "read")
        state.audit.record("test", "k", None)
    finally:
        os.umask(previous)
    assert mode(state.keys.path) == 0o600
    for companion in (state.keys.path.with_name(state.keys.path.name + suffix) for suffix in ("-wal", "-shm")):
        if companion.exists():
            assert mode(companion) == 0o600, companion
    assert mode(state.audit.path) == 0o600
    assert mode(state.jobs.path) == 0o600
    assert mode(state.uploads_dir) == 0o700 and mode(state.keys.path.parent) == 0o700


def test_an_uploaded_file_and_its_job_folder_are_private_whatever_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        folder = tmp_path / "uploads" / "job1"
        records = store_uploads(folder, [IncomingFile("note.txt", "text/plain", io.BytesIO(b"A plain note."))], 1 << 20)
    finally:
        os.umask(previous)
    assert [record.status for record in records] == ["pending"]
    assert mode(folder) == 0o700
    assert mode(folder / "note.txt") == 0o600


def test_an_existing_key_table_is_tightened(tmp_path):
    path = tmp_path / "api" / "keys.sqlite3"
    path.parent.mkdir(mode=0o755)
    KeyStore(path).close()
    os.chmod(path, 0o644)
    KeyStore(path).close()
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


# -- key names: the API's collection rule ------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "../../etc", "a b", "*", "a..b", ".hidden", "x" * 129])
def test_a_key_is_never_made_for_a_name_the_api_refuses(tmp_path, name):
    store = KeyStore(tmp_path / "keys.sqlite3")
    with pytest.raises(ValueError, match="collection name"):
        store.create([name], "read")
    assert store.list() == []


def test_keys_create_refuses_such_names_on_the_command_line(monkeypatch, tmp_path):
    import typer
    from typer.testing import CliRunner

    from api.cli import register

    monkeypatch.setenv("VERIRAG_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()
    register(app)
    refused = CliRunner().invoke(app, ["keys", "create", "-c", "docs", "-c", "../../etc"])
    assert refused.exit_code == 2 and "'../../etc' is not a collection name" in refused.output
    accepted = CliRunner().invoke(app, ["keys", "create", "-c", "docs", "-c", "team-a.v2_x"])
    assert accepted.exit_code == 0, accepted.output


# -- what held: the key check stays constant-time ----------------------------------------------------


def test_keys_are_compared_in_constant_time_even_for_unknown_ids(tmp_path, monkeypatch):
    import hmac

    from api import keys as keys_module
    from api.keys import AuthenticationError

    store = KeyStore(tmp_path / "keys.sqlite3")
    _, token = store.create(["a"], "read")
    compared = []
    compare = hmac.compare_digest

    def spy(a, b):
        compared.append((len(a), len(b)))
        return compare(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    store.authenticate(token)
    with pytest.raises(AuthenticationError):
        store.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B"))
    with pytest.raises(AuthenticationError):
        store.authenticate("vrk_0123456789ab_" + "A" * 43)  # unknown id: the comparison still runs
    assert compared == [(64, 64)] * 3
