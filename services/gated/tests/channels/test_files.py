"""POST /v1/files: an adapter's upload is stored by sha256 in files/, the token is checked
first, the cap holds whether announced or streamed (and leaves nothing on disk), and the file
name and type are checked."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gated import filenames
from gated.channels import create_app
from gated_channels_support import make_config, register
from hypothesis import given
from hypothesis import strategies as st

CAP = 4096


@pytest.fixture
def small(db: Path) -> Iterator[TestClient]:
    """The API with a 4 KiB upload cap."""
    app = create_app(make_config(db, max_file_bytes=CAP))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def files_on_disk(db: Path) -> list[str]:
    root = db.parent / "files"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def upload(client: TestClient, token: str, data: Any, **headers: str) -> Any:
    return client.post(
        "/v1/files", content=data, headers={"Authorization": f"Bearer {token}", **headers}
    )


def test_an_upload_is_stored_by_sha256_once(client: TestClient, db: Path) -> None:
    token = register(client)
    data = b"%PDF-1.7 a report\n" * 100
    sha = hashlib.sha256(data).hexdigest()
    resp = upload(
        client,
        token,
        data,
        **{"Content-Type": "Application/PDF; x=1", "X-Filename": "Q3%20report%20%C3%A9.pdf"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"sha256": sha, "size": len(data), "type": "application/pdf"}
    assert (db.parent / "files" / sha[:2] / sha).read_bytes() == data
    again = upload(client, token, data, **{"Content-Type": "application/pdf"})
    assert again.status_code == 201
    assert again.json() == resp.json()
    assert files_on_disk(db) == [f"{sha[:2]}/{sha}"]


def test_an_upload_without_type_or_name_is_an_octet_stream(client: TestClient) -> None:
    token = register(client)
    resp = client.post(
        "/v1/files", content=b"\x00\x01", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["type"] == "application/octet-stream"
    assert resp.json()["size"] == 2


@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Basic abc"])
def test_an_upload_without_a_good_token_is_401_and_stores_nothing(
    client: TestClient, db: Path, auth: str | None
) -> None:
    register(client)
    headers = {"Authorization": auth} if auth else {}
    resp = client.post("/v1/files", content=b"x" * 100, headers=headers)
    assert resp.status_code == 401
    assert resp.json()["field"] == "Authorization"
    assert files_on_disk(db) == []


def test_an_announced_length_over_the_cap_is_413_at_once(small: TestClient, db: Path) -> None:
    token = register(small)
    resp = upload(small, token, b"x" * (CAP + 1))
    assert resp.status_code == 413
    assert resp.json()["field"] == "file"
    assert files_on_disk(db) == []


def test_a_streamed_body_over_the_cap_is_413_and_leaves_nothing(
    small: TestClient, db: Path
) -> None:
    token = register(small)

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000

    resp = upload(small, token, chunks())  # chunked: no Content-Length to refuse it by
    assert resp.status_code == 413
    assert files_on_disk(db) == []  # not even the temporary .incoming- file


def test_a_file_of_exactly_the_cap_is_accepted(small: TestClient, db: Path) -> None:
    token = register(small)
    assert upload(small, token, b"z" * CAP).status_code == 201
    assert len(files_on_disk(db)) == 1


@pytest.mark.parametrize(
    "header",
    [
        "evil%00.txt",  # NUL
        "invoice%E2%80%AEfdp.exe",  # RIGHT-TO-LEFT OVERRIDE: shows as invoiceexe.pdf
        "line%0Abreak",
        "bad%FFutf8",  # not UTF-8
        "%20%20",  # blank
        "x" * 256,
    ],
)
def test_a_hostile_file_name_is_422_and_stores_nothing(
    client: TestClient, db: Path, header: str
) -> None:
    token = register(client)
    resp = upload(client, token, b"data", **{"X-Filename": header})
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "X-Filename"
    assert files_on_disk(db) == []


def test_a_path_like_name_is_just_a_name(client: TestClient) -> None:
    token = register(client)
    resp = upload(client, token, b"root:x:0:0", **{"X-Filename": "..%2F..%2Fetc%2Fpasswd"})
    assert resp.status_code == 201, resp.text


@pytest.mark.parametrize("bad", ["text", "text/plain/x", "<script>/x", "a b/c"])
def test_a_bad_content_type_is_422(client: TestClient, bad: str) -> None:
    token = register(client)
    resp = upload(client, token, b"data", **{"Content-Type": bad})
    assert resp.status_code == 422
    assert resp.json()["field"] == "Content-Type"


def test_openapi_documents_the_upload(client: TestClient) -> None:
    op = client.get("/openapi.json").json()["paths"]["/v1/files"]["post"]
    assert "201" in op["responses"]
    assert op["parameters"][0]["name"] == "X-Filename"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        (".bashrc", "bashrc"),
        ("...", "file"),
        ("dir/", "file"),
        ("Q3 report é.pdf", "Q3_report__.pdf"),
        ("x" * 300 + ".tar.gz", "x" * 97 + ".gz"),
        ("y" * 300, "y" * 100),
    ],
)
def test_safe_name_is_a_plain_basename(name: str, safe: str) -> None:
    assert filenames.safe_name(name) == safe


@given(st.text(max_size=400))
def test_safe_name_is_always_one_plain_component(name: str) -> None:
    safe = filenames.safe_name(name)
    assert 1 <= len(safe) <= filenames.MAX_SAFE_NAME
    assert filenames.UNSAFE_NAME_CHAR_RE.search(safe) is None
    assert not safe.startswith(".")
    assert safe not in (".", "..")
