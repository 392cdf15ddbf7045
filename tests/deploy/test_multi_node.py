"""Several nodes behave as one: the multi-node proof of a production deployment, on this machine.

What runs (tests/support/cluster.py): with MYAPP_ENV=prod, node A and node B (`myapp server` on two
loopback ports) and one `myapp worker`, on one PostgreSQL database, with the same SECRET_KEY_BASE,
PubSub and Presence over PostgreSQL LISTEN/NOTIFY (no REDIS_URL), the catalog cache shared in
Redis (CACHE_URL), emails sent by SMTP to a real SMTP server in the test. The test plays the load
balancer (nginx on the same machine): it sends `X-Forwarded-Proto: https` from 127.0.0.1, the
nodes' TRUSTED_PROXIES, and keeps the `Secure` session cookie itself (httpx sends none over http).
Node B also runs job workers (JOBS_IN_SERVER=true), so two consumers compete for every job.
The cluster is started once for the module; the test that SIGKILLs node A comes last.

What is proved, one test each:
1. A user signed up through node A appears within 1 s of the sign-up's answer on the live `/users`
   page (SSE) held open on node B by an admin who signed in through node A.
2. A chat message pushed by a socket on node A (room:lobby) reaches a socket on node B.
3. A product updated through node A is never read stale through node B (200 write/read rounds,
   node B reading through the shared cache).
4. 500 email jobs enqueued on both nodes (250 sign-ups, 125 per node, each enqueues a welcome and
   a confirmation email) all run exactly once, taken by two competing consumers (the worker and
   node B): 500 messages at the SMTP server, one of each kind per new user, and in the jobs table
   500 succeeded jobs with one attempt and one start each.
5. Presence on node B lists a user whose socket joined on node A, and drops them within
   NODE_TIMEOUT plus a heartbeat (and slack for a busy machine) after node A is SIGKILLed.

Needs Redis (skipped without it, failed without it when CI=true). Measured figures are printed
(`pytest -s`, or `-rP`).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import psycopg
import pytest
import redis
from websockets.typing import Origin

from my_app import presence
from tests.support.channel_case import SEE_WITHIN, Member, PhoenixClient, connect
from tests.support.cluster import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ORIGIN,
    PROXY_HEADERS,
    Cluster,
    ProxiedClient,
    running_cluster,
)
from tests.support.live_server import ServerProcess
from tests.support.services import REDIS_URL, needs_redis

pytestmark = [pytest.mark.integration, needs_redis()]

PASSWORD = "a long enough passphrase"  # throwaway accounts in a throwaway database
LIVE_WITHIN = 1.0  # seconds from a sign-up's answer to the new row on another node's live page
PRODUCT_ROUNDS = 200
SIGN_UPS_PER_NODE = 125  # two email jobs each: 250 jobs enqueued on each node, 500 in all
EMAIL_SUBJECTS = sorted(["Welcome to MyApp", "Confirm your MyApp account"])  # what each sign-up sends
EMAIL_KINDS = len(EMAIL_SUBJECTS)
SIGN_UPS_AT_ONCE = 8  # concurrent sign-ups per node, as several browsers would send them
JOBS_WITHIN = 90.0
# A dead node is dropped NODE_TIMEOUT after its last heartbeat, at a check made every HEARTBEAT_INTERVAL;
# two more seconds for a machine busy with other test runs.
DROP_WITHIN = presence.NODE_TIMEOUT + presence.HEARTBEAT_INTERVAL + 2.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster"), node_b_runs_jobs=True) as started:
        yield started


def unique_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


async def sign_up(node: ServerProcess, email: str, name: str, client: ProxiedClient | None = None) -> dict[str, Any]:
    """Register through `node`'s API (with `client`, a connection to it, if given); the new user's JSON."""
    async with AsyncExitStack() as stack:
        sender = client if client is not None else await stack.enter_async_context(ProxiedClient(node.base_url))
        response = await sender.post(
            "/api/users/register", json={"user": {"email": email, "name": name, "password": PASSWORD}}
        )
    assert response.status_code == 201, f"signing up through {node.base_url} failed: {response.text}"
    user: dict[str, Any] = response.json()["data"]
    return user


async def api_token(node: ServerProcess, email: str, password: str = PASSWORD) -> str:
    """A bearer token from logging in through `node`'s API."""
    async with ProxiedClient(node.base_url) as client:
        response = await client.post("/api/sessions", json={"email": email, "password": password})
    assert response.status_code == 201, f"logging in as {email} failed: {response.text}"
    token: str = response.json()["data"]["token"]
    return token


async def socket_token(node: ServerProcess, bearer: str) -> str:
    async with ProxiedClient(node.base_url, {"Authorization": f"Bearer {bearer}"}) as client:
        response = await client.get("/api/socket-token")
    assert response.status_code == 200, response.text
    token: str = response.json()["data"]["token"]
    return token


async def chat_user(node: ServerProcess, name: str) -> tuple[str, str]:
    """A user signed up and logged in through `node`: their id and a socket token."""
    email = unique_email(name.lower())
    user = await sign_up(node, email, name)
    return user["id"], await socket_token(node, await api_token(node, email))


async def socket_on(stack: AsyncExitStack, node: ServerProcess, token: str) -> PhoenixClient:
    """A socket to `node` as a browser on https://APP_HOST opens it through the load balancer."""
    return await stack.enter_async_context(
        connect(node.ws_url, token, origin=Origin(ORIGIN), additional_headers=PROXY_HEADERS)
    )


async def log_in_page(client: ProxiedClient, email: str, password: str) -> None:
    """Log in through the log-in page, as a browser does (the form's CSRF token, then the post)."""
    form = await client.get("/users/log-in")
    assert form.status_code == 200, form.text
    match = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
    assert match is not None, "the log-in page has no CSRF token"
    answer = await client.post(
        "/users/log-in", data={"_csrf_token": match.group(1), "email": email, "password": password}
    )
    assert answer.status_code == 303, f"the admin could not log in: {answer.status_code} {answer.text}"


async def test_a_user_signed_up_on_node_a_appears_on_a_live_page_held_open_on_node_b(cluster: Cluster) -> None:
    async with ProxiedClient(cluster.node_a.base_url) as on_a, ProxiedClient(cluster.node_b.base_url) as admin:
        # Signed in on node A, the browser's next requests go to node B (the same SECRET_KEY_BASE reads the session).
        await log_in_page(on_a, ADMIN_EMAIL, ADMIN_PASSWORD)
        admin.cookies = dict(on_a.cookies)
        async with admin.live("/users") as page:
            assert page.response.status_code == 200, (
                f"an admin signed in on node A could not open the live user list on node B: {page.response.status_code}"
            )
            first = await page.next_event(within=SEE_WITHIN)
            assert 'hx-target="#live-region"' in first.data, f"the live list did not render on connect: {first}"
            assert ADMIN_EMAIL in first.data, f"the live list on node B does not show the admin: {first.data}"

            user = await sign_up(cluster.node_a, unique_email("live"), "Lena Live")
            answered = time.monotonic()
            row = f'<tr id="users-{user["id"]}">'
            while True:
                try:
                    event = await page.next_event(within=SEE_WITHIN)
                except TimeoutError:
                    raise AssertionError(
                        f"an admin on node B never saw the user who signed up on node A\n{cluster.logs()}"
                    ) from None
                if row in event.data:
                    break
    # Below zero when the row reached node B's page before node A's answer reached the client.
    latency = event.arrived - answered
    print(f"sign-up answered on node A to the row on node B's live page: {latency * 1000:.0f} ms")
    assert event.data.startswith('<hx-partial hx-target="#users" hx-swap="beforeend">'), (
        f"the new user did not come as a row added at the end of node B's list: {event.data}"
    )
    assert "Lena Live" in event.data, f"the new row on node B lacks the user's name: {event.data}"
    assert latency < LIVE_WITHIN, f"an admin on node B saw the new user only {latency:.2f}s after the sign-up answered"


async def test_a_chat_message_sent_on_node_a_reaches_a_socket_on_node_b(cluster: Cluster) -> None:
    (anna_id, anna_token), (_, bert_token) = await asyncio.gather(
        chat_user(cluster.node_a, "Anna"), chat_user(cluster.node_b, "Bert")
    )
    async with AsyncExitStack() as stack:
        anna = Member(await socket_on(stack, cluster.node_a, anna_token), "room:lobby")
        bert = Member(await socket_on(stack, cluster.node_b, bert_token), "room:lobby")
        for member in (anna, bert):
            joined = await member.client.join("room:lobby")
            assert joined[4]["status"] == "ok", f"joining the lobby failed: {joined}"

        body = f"hello from node A {uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        ref = await anna.client.push("room:lobby", "new_msg", {"body": body})
        assert (await anna.client.reply(ref))[4]["status"] == "ok", "the sender's message was refused"
        try:
            message = await bert.expect("new_msg")
        except AssertionError as error:
            raise AssertionError(f"a message sent on node A never reached the lobby on node B: {error}") from None
        print(f"new_msg from node A to node B: {(time.monotonic() - started) * 1000:.0f} ms")
    assert message[4]["body"] == body, f"node B's lobby showed another message: {message}"
    assert message[4]["user"] == {"id": anna_id, "name": "Anna"}, f"node B showed the wrong sender: {message}"


async def test_a_product_updated_on_node_a_is_never_read_stale_on_node_b(cluster: Cluster) -> None:
    admin_token = await api_token(cluster.node_a, ADMIN_EMAIL, ADMIN_PASSWORD)
    tag = uuid.uuid4().hex[:8]
    async with (
        ProxiedClient(cluster.node_a.base_url, {"Authorization": f"Bearer {admin_token}"}) as a,
        ProxiedClient(cluster.node_b.base_url) as b,
    ):
        made = await a.post("/api/categories", json={"category": {"name": f"Teas {tag}", "slug": f"teas-{tag}"}})
        assert made.status_code == 201, made.text
        product = {
            "name": "Green tea",
            "price": "1.00",
            "sku": f"TEA-{tag}",
            "stock": 1,
            "category_id": made.json()["data"]["id"],
        }
        made = await a.post("/api/products", json={"product": product})
        assert made.status_code == 201, made.text
        product_id = made.json()["data"]["id"]
        url = f"/api/products/{product_id}"

        started = time.monotonic()
        for round_ in range(PRODUCT_ROUNDS):
            # Node B reads first, so the cache holds the old price when node A writes the new one.
            before = await b.get(url)
            assert before.status_code == 200, before.text
            price = f"{round_ + 2}.{round_ % 100:02d}"
            written = await a.patch(url, json={"product": {"price": price, "stock": round_}})
            assert written.status_code == 200, written.text
            read = await b.get(url)
            assert read.status_code == 200, read.text
            shown = read.json()["data"]
            assert (shown["price"], shown["stock"]) == (price, round_), (
                f"round {round_}: node B showed a shopper price {shown['price']} and stock {shown['stock']}"
                f" just after node A saved {price} and {round_}"
            )
        elapsed = time.monotonic() - started
    print(f"{PRODUCT_ROUNDS} rounds of a write on A and a read on B in {elapsed:.1f}s")
    with redis.Redis.from_url(REDIS_URL) as client:
        kept = client.keys(f"{cluster.cache_namespace}:catalog:product:{product_id}:*")
    assert kept, "node B read the product without the shared cache: this test would not catch a stale cache"
    assert "cache unavailable" not in cluster.node_a.output() + cluster.node_b.output()


async def test_500_jobs_enqueued_on_both_nodes_run_exactly_once(cluster: Cluster) -> None:
    tag = uuid.uuid4().hex[:6]

    async def sign_ups_through(node: ServerProcess, label: str) -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(SIGN_UPS_AT_ONCE)
        async with ProxiedClient(node.base_url) as client:  # kept-alive connections, as a load balancer's

            async def one(number: int) -> dict[str, Any]:
                async with gate:
                    email, name = f"jobs-{tag}-{label}-{number}@example.com", f"Jobs {label} {number}"
                    return await sign_up(node, email, name, client)

            return await asyncio.gather(*(one(number) for number in range(SIGN_UPS_PER_NODE)))

    started = time.monotonic()
    users = [
        user
        for batch in await asyncio.gather(sign_ups_through(cluster.node_a, "a"), sign_ups_through(cluster.node_b, "b"))
        for user in batch
    ]
    enqueued = time.monotonic() - started
    recipients = {user["email"] for user in users}
    expected = len(users) * EMAIL_KINDS
    assert len(recipients) == 2 * SIGN_UPS_PER_NODE == len(users)

    def delivered() -> list[tuple[str, str]]:
        """(recipient, subject) of every message the SMTP server took for this test's users."""
        received = list(cluster.inbox.received)  # a copy: the SMTP server's thread appends to it
        return [(to, str(item.message["Subject"])) for item in received for to in item.rcpt_tos if to in recipients]

    async with await psycopg.AsyncConnection.connect(cluster.database_url, autocommit=True) as connection:
        user_ids = [user["id"] for user in users]
        # Every delivery happens inside its job's run: once none is waiting or running, no
        # duplicate can still be on its way to the mail server.
        unfinished = await wait_for_jobs_to_finish(connection, user_ids)
        cursor = await connection.execute(
            "SELECT j.id, j.status::text, j.attempts, j.worker_id,"
            " (SELECT count(*) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'started')"
            " FROM procrastinate_jobs j"
            " WHERE j.task_name = 'email:deliver_email' AND j.args->>'user_id' = ANY(%s)",
            [user_ids],
        )
        jobs = await cursor.fetchall()
        cursor = await connection.execute(
            "SELECT min(e.at) FILTER (WHERE e.type = 'started'), max(e.at) FILTER (WHERE e.type = 'succeeded')"
            " FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id"
            " WHERE j.task_name = 'email:deliver_email' AND j.args->>'user_id' = ANY(%s)",
            [user_ids],
        )
        first_start, last_success = await cursor.fetchone() or (None, None)

    all_done = time.monotonic() - started
    messages = delivered()
    per_consumer = Counter(worker for _id, _status, _attempts, worker, _starts in jobs)
    run_seconds = (last_success - first_start).total_seconds() if first_start and last_success else float("nan")
    print(
        f"{len(users)} sign-ups ({expected} jobs) enqueued through both nodes in {enqueued:.1f}s;"
        f" jobs ran from the first start to the last success in {run_seconds:.1f}s"
        f" ({expected / run_seconds:.0f} jobs/s); all done {all_done:.1f}s after the first sign-up;"
        f" jobs per consumer (procrastinate worker id: count): {dict(per_consumer)}"
    )
    assert unfinished == 0, (
        f"{unfinished} emails were still waiting to be sent {JOBS_WITHIN:.0f}s after the sign-ups\n{cluster.logs()}"
    )
    assert len(jobs) == expected, f"{expected} emails were asked for, but the jobs table holds {len(jobs)} of them"
    states = Counter(status for _id, status, _attempts, _worker, _starts in jobs)
    assert states == {"succeeded": expected}, f"some emails were not sent: {dict(states)}\n{cluster.logs()}"
    twice = [job for job in jobs if (job[2], job[4]) != (1, 1)]
    assert not twice, f"some emails' jobs ran more than once (id, status, attempts, worker, starts): {twice[:10]}"
    assert len(per_consumer) >= 2, (
        f"one consumer ran every job ({dict(per_consumer)}): the worker and node B never competed,"
        " so 'exactly once' was not put to the test"
    )
    duplicates = {message: count for message, count in Counter(messages).items() if count > 1}
    assert not duplicates, f"people got the same email more than once: {list(duplicates.items())[:10]}"
    assert len(messages) == expected, f"{expected} emails should have gone out; the mail server got {len(messages)}"
    subjects_per_recipient = {
        to: sorted(subject for recipient, subject in messages if recipient == to) for to in recipients
    }
    wrong = {to: subjects for to, subjects in subjects_per_recipient.items() if subjects != EMAIL_SUBJECTS}
    assert not wrong, f"new users did not get exactly a welcome and a confirmation email: {list(wrong.items())[:10]}"


async def wait_for_jobs_to_finish(connection: psycopg.AsyncConnection[Any], user_ids: list[str]) -> int:
    """Wait (up to JOBS_WITHIN) until none of these users' email jobs is waiting or running; how many still are."""
    deadline = time.monotonic() + JOBS_WITHIN
    while True:
        cursor = await connection.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'email:deliver_email'"
            " AND args->>'user_id' = ANY(%s) AND status IN ('todo', 'doing')",
            [user_ids],
        )
        row = await cursor.fetchone()
        assert row is not None
        if row[0] == 0 or time.monotonic() > deadline:
            return int(row[0])
        await asyncio.sleep(0.2)


# Last: it kills node A.
async def test_presence_on_node_b_drops_a_user_of_node_a_after_node_a_is_killed(cluster: Cluster) -> None:
    (olli_id, olli_token), (pia_id, pia_token) = await asyncio.gather(
        chat_user(cluster.node_a, "Olli"), chat_user(cluster.node_b, "Pia")
    )
    async with AsyncExitStack() as stack:
        olli = await socket_on(stack, cluster.node_a, olli_token)
        pia = Member(await socket_on(stack, cluster.node_b, pia_token), "room:lobby")
        assert (await olli.join("room:lobby"))[4]["status"] == "ok", "joining the lobby on node A failed"
        assert (await pia.client.join("room:lobby"))[4]["status"] == "ok", "joining the lobby on node B failed"
        try:
            await pia.until(lambda _: olli_id in pia.users(), within=SEE_WITHIN, what="Olli (node A) in the lobby")
        except AssertionError as error:
            raise AssertionError(f"someone in the lobby on node B does not see a user of node A: {error}") from None

        await asyncio.to_thread(cluster.node_a.kill)
        try:
            dropped = await pia.until(lambda _: olli_id not in pia.users(), within=DROP_WITHIN, what="Olli's leave")
        except AssertionError as error:
            raise AssertionError(
                f"node A died, yet the lobby on node B still lists its user after {DROP_WITHIN:.0f}s: {error}"
            ) from None
        print(f"node A SIGKILLed: its user left node B's presence after {dropped:.1f}s", end=" ")
        print(f"(NODE_TIMEOUT {presence.NODE_TIMEOUT:g}s, HEARTBEAT_INTERVAL {presence.HEARTBEAT_INTERVAL:g}s)")
        assert pia.users() == {pia_id}, f"the lobby on node B lost its own user too: {pia.state}"
        ref = await pia.client.push("room:lobby", "ping", {"n": 1})
        assert (await pia.client.reply(ref))[4]["status"] == "ok", "node B stopped serving its socket after A died"
