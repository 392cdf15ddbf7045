"""No route returns 500 for any JSON body.

Every operation of /api/openapi.json gets random and malformed bodies (nulls, numbers, nested
objects, huge strings, wrong wrappers, NUL characters, lone surrogates, broken JSON) without a
token, with an admin's and with a user's. Each answer must be a documented status below 500 with
a JSON body holding "errors" or "data" (204: empty).

The generator is a small seeded one (hypothesis/schemathesis are not installed): deterministic
and bounded, BODIES_PER_OPERATION bodies (plus a few malformed ones) per operation and caller.
"""

from __future__ import annotations

import json
import os
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.fixtures.api import api_user, auth_for, reset_rate_limits, unique_email

# Fixed, so a run is reproducible; set API_FUZZ_SEED / API_FUZZ_BODIES to explore further.
SEED = int(os.environ.get("API_FUZZ_SEED", "20261127"))
BODIES_PER_OPERATION = int(os.environ.get("API_FUZZ_BODIES", "30"))
MAX_DEPTH = 3

INTERESTING_TEXT = [
    "",
    " ",
    "\t\n",
    "a",
    "admin",
    "user",
    "null",
    "true",
    "0",
    "-1",
    "101",
    "ada@example.com",
    "ADA@EXAMPLE.COM",
    "not an email",
    "a@b",
    "@",
    "a" * 150 + "@example.com",
    "correct horse battery staple",
    "short",
    "x" * 72,
    "x" * 73,
    "é" * 40,
    "€" * 72,
    "💥" * 20,
    "\u0000",
    "a\u0000b@example.com",
    "\ud800",
    "\udfff tail",
    "\u202eevil\u202c",
    "e\u0301" * 10,
    "\ufeffbom",
    "' OR 1=1 --",
    "'; DROP TABLE users; --",
    "%00",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "00000000-0000-0000-0000-000000000000",
    "x" * 100_000,
]
# Bodies that are not JSON at all, or JSON no parser should take.
MALFORMED = [
    b"",
    b"{",
    b"}",
    b"nul",
    b'{"user": ',
    b'{"user": {"email": "a@b.c",}}',
    b"\xff\xfe\x00\x00",
    b'{"email": "\xc3\x28"}',
    b"NaN",
    b'{"password": Infinity}',
    b"[" * 50_000 + b"]" * 50_000,
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b"1" * 10_000,
    b'"' + b"x" * 200_000 + b'"',
]


class JsonFuzzer:
    """Random JSON values, some shaped like an operation's request body."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def text(self) -> str:
        choice = self.rng.random()
        if choice < 0.6:
            return self.rng.choice(INTERESTING_TEXT)
        if choice < 0.8:
            return "".join(self.rng.choice(string.printable) for _ in range(self.rng.randint(0, 40)))
        # Any code point but surrogates (those come from INTERESTING_TEXT).
        points = [self.rng.choice([self.rng.randint(1, 0xD7FF), self.rng.randint(0xE000, 0x10FFFF)]) for _ in range(20)]
        return "".join(map(chr, points))

    def value(self, depth: int = 0) -> Any:
        kinds: list[Callable[[], Any]] = [
            lambda: None,
            lambda: self.rng.choice([True, False]),
            lambda: self.rng.choice([0, -1, 1, 12, 2**31, -(2**63), 10**30]),
            lambda: self.rng.choice([0.0, -0.0, 1.5, 1e308, -1e-308]),
            self.text,
        ]
        if depth < MAX_DEPTH:
            kinds += [
                lambda: [self.value(depth + 1) for _ in range(self.rng.randint(0, 4))],
                lambda: {self.text()[:20]: self.value(depth + 1) for _ in range(self.rng.randint(0, 4))},
            ]
        return self.rng.choice(kinds)()

    def shaped(self, schema: dict[str, Any], resolve: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
        """An object with the schema's fields (some left out, some extra), each a random value."""
        schema = resolve(schema)
        properties: dict[str, Any] = schema.get("properties", {})
        body: dict[str, Any] = {}
        for name, field in properties.items():
            if self.rng.random() < 0.1:
                continue
            nested = resolve(field)
            if nested.get("type") == "object" and self.rng.random() < 0.8:
                body[name] = self.shaped(nested, resolve)
            else:
                body[name] = self.text() if self.rng.random() < 0.85 else self.value(1)
        if self.rng.random() < 0.2:
            body[self.rng.choice(["role", "id", "hashed_password", "confirmed_at", "admin"])] = self.value(1)
        return body

    def body(self, schema: dict[str, Any] | None, resolve: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
        choice = self.rng.random()
        if schema is not None and choice < 0.5:
            return self.shaped(schema, resolve)
        if schema is not None and choice < 0.65:
            # A wrong wrapper: the right fields under another key, unwrapped, or in a list.
            inner = self.shaped(schema, resolve)
            return self.rng.choice([{"data": inner}, {"users": inner}, [inner], inner.get("user", inner)])
        return self.value()


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    body_schema: dict[str, Any] | None
    statuses: frozenset[str]
    query: tuple[str, ...]
    # Statuses documented with another body than JSON (the CSV export's 200): status → media type.
    other_bodies: dict[str, str]


def operations_of(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, methods in sorted(document["paths"].items()):
        if not path.startswith("/api"):
            continue
        for method, spec in sorted(methods.items()):
            content = spec.get("requestBody", {}).get("content", {}).get("application/json")
            query = tuple(p["name"] for p in spec.get("parameters", []) if p["in"] == "query")
            other_bodies = {
                status: next(iter(response["content"]))
                for status, response in spec["responses"].items()
                if response.get("content") and "application/json" not in response["content"]
            }
            found.append(
                Operation(
                    method,
                    path,
                    content["schema"] if content else None,
                    frozenset(spec["responses"]),
                    query,
                    other_bodies,
                )
            )
    return found


def segment(text: str) -> str:
    """`text` as one path segment (lone surrogates become invalid UTF-8, as a client could send).

    Cut to 2,000 characters: clients refuse URLs longer than 64 KiB.
    """
    # No "/": an encoded slash is decoded before routing, so it would make another URL.
    quoted = quote(text[:2_000].replace("/", "_").encode("utf-8", "surrogatepass"), safe="")
    return quoted if quoted not in {"", ".", ".."} else "x"


def encoded(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=True).encode()


async def test_no_route_returns_500_for_any_json_body(web_app: FastAPI, db: AsyncConnection) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web_app, raise_app_exceptions=False), base_url="http://localhost:4000"
    ) as client:
        document = (await client.get("/api/openapi.json")).json()
        schemas = document["components"]["schemas"]

        def resolve(schema: dict[str, Any]) -> dict[str, Any]:
            while "$ref" in schema:
                schema = schemas[schema["$ref"].removeprefix("#/components/schemas/")]
            return schema

        operations = operations_of(document)
        assert len(operations) >= 19
        rng = random.Random(SEED)  # noqa: S311 - reproducible test data, not secrets
        fuzzer = JsonFuzzer(rng)
        admin = await api_user(role="admin", email=unique_email("fuzz-admin"))
        member = await api_user(email=unique_email("fuzz-user"))
        failures: list[str] = []
        sent = 0

        for operation in operations:
            target = await api_user(email=unique_email("fuzz-target"))  # admins may delete it: fresh per operation
            bodies: list[bytes] = [
                encoded(fuzzer.body(operation.body_schema, resolve)) for _ in range(BODIES_PER_OPERATION)
            ]
            bodies += rng.sample(MALFORMED, 4)
            for index, content in enumerate(bodies):
                url = operation.path.replace(
                    "{id}", rng.choice([str(target.id), str(uuid.uuid4()), segment(fuzzer.text())])
                )
                url = url.replace("{token}", segment(fuzzer.text()))
                if operation.query:
                    params = [
                        (name, fuzzer.text() if rng.random() < 0.7 else str(fuzzer.value(1)))
                        for name in operation.query
                    ]
                    url += "?" + "&".join(f"{name}={segment(value)}" for name, value in params if rng.random() < 0.7)
                content_type = (
                    "application/json"
                    if index % 10
                    else rng.choice(["text/plain", "application/x-www-form-urlencoded", "application/vnd.api+json"])
                )
                for who in (None, admin, member):
                    await reset_rate_limits(web_app)  # get past the limiter to the code behind it
                    headers = {"content-type": content_type} | (await auth_for(who) if who else {})
                    response = await client.request(operation.method.upper(), url, content=content, headers=headers)
                    sent += 1
                    problem = check(operation, response)
                    if problem:
                        caller = "admin" if who is admin else "user" if who is member else "anonymous"
                        failures.append(
                            f"{operation.method.upper()} {url[:120]} as {caller} with {content[:200]!r}: {problem}"
                        )

    assert not failures, f"{len(failures)} of {sent} requests failed:\n" + "\n".join(failures[:30])


def check(operation: Operation, response: httpx.Response) -> str | None:
    """What is wrong with the answer, or None."""
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:200]}"
    if str(response.status_code) not in operation.statuses:
        return f"undocumented status {response.status_code} {response.text[:200]}"
    if response.status_code == 204:
        return None if response.content == b"" else f"204 with a body {response.content[:100]!r}"
    other = operation.other_bodies.get(str(response.status_code))
    if other is not None:
        media_type = response.headers.get("content-type", "").partition(";")[0]
        return None if media_type == other else f"{response.status_code} as {media_type}, documented as {other}"
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} without a JSON body: {response.text[:200]}"
    if not isinstance(body, dict) or not ({"errors", "data"} & set(body)):
        return f"{response.status_code} without errors or data: {response.text[:200]}"
    return None
