from __future__ import annotations

import httpx


async def test_register_log_in_and_read_me(client: httpx.AsyncClient) -> None:
    body = {"user": {"email": "smoke@example.com", "name": "Smoke", "password": "a long passphrase", "role": "admin"}}
    created = await client.post("/api/users/register", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["role"] == "user"
    assert created.headers["location"] == f"/api/users/{created.json()['data']['id']}"

    session = await client.post("/api/sessions", json={"email": "smoke@example.com", "password": "a long passphrase"})
    assert session.status_code == 201, session.text
    token = session.json()["data"]["token"]

    me = await client.get("/api/users/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["data"]["email"] == "smoke@example.com"
    assert "hashed_password" not in me.json()["data"]

    wrong = await client.post("/api/sessions", json={"email": "smoke@example.com", "password": "nope nope nope"})
    unknown = await client.post("/api/sessions", json={"email": "nobody@example.com", "password": "nope nope nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"errors": {"detail": "Unauthorized"}}

    bad_id = await client.get("/api/users/not-a-uuid", headers={"authorization": f"Bearer {token}"})
    assert bad_id.status_code == 404
    no_wrapper = await client.post("/api/users/register", json={"email": "x@example.com"})
    assert no_wrapper.status_code == 400
    assert no_wrapper.json() == {"errors": {"detail": "Bad Request"}}
    listed = await client.get("/api/users", headers={"authorization": f"Bearer {token}"})
    assert listed.status_code == 403
