"""The read cache (the seed's Cachex), on cashews: `mem://` in one process, Redis shared by every node.

Never stale: once a write has returned, no reader on any node gets the value from before it. Each
cached thing depends on one or more *state keys* (`catalog:product:<id>`, `catalog:categories`);
a state is one integer: a generation (high bits) and the number of writes in flight (low 16 bits).

- A write calls `writing(*states)` around its transaction. Before it (so before the commit) each
  state gets a new generation and one more write in flight; after the commit (or the rollback)
  a new generation again and one fewer in flight. Only then does the context function return.
- A read (`fetch`) reads its states (one MGET), then the value stored under *those* generations
  (`<name>:<gen>:<gen>`). On a miss it loads from the database and stores what it loaded under the
  generations it read first, so a racing reader can only store an old value under an old
  generation, which no reader asks for again. While any of its states has a write in flight,
  a read goes to the database and stores nothing.
- A state that does not exist yet (or expired: `STATE_TTL` after its last write) starts at a random
  generation, so a new state never meets values stored under an old one.

Failures: if the shared cache cannot be reached, reads go to the database at once (for
`RETRY_INTERVAL` no read tries the cache, so nothing waits on a timeout) and writes are refused
with `CacheUnavailableError` (503) before anything is written: a write that could not tell the
cache would let the other nodes serve the old value (from a Redis that only this node cannot
reach, or that comes back with its data). A failure *after* the commit leaves the write marked as
in flight, so its states' readers use the database until the state expires (`STATE_TTL`).

One process, or several: `mem://` lives in this process only, so it is used only where one process
serves (see `Settings.cache_backend_url`): with several workers or nodes, set REDIS_URL (or the
cache is off and every read goes to the database). Other processes may still write now and then (a
seed, the console, a job worker): their writes reach a `mem://` cache as PubSub broadcasts, and
`forget(...)` moves those states on (the Application wires it). That is soon after, not before the
write returns: never stale holds for writes through the serving process, which is why a second
serving process needs Redis.

Values are plain data (dicts of column values: str, int, Decimal, UUID, datetime), never ORM
objects; in Redis they are pickled and signed with a key derived from SECRET_KEY_BASE, so a value
someone else wrote into Redis is refused, not unpickled.

Counted (`stats()`, and `cache_requests_total{result}` in `my_app.metrics`, both from the one
place a read's result is recorded): each read of an enabled cache is a `hit`, a `miss` (loaded
from the database and kept), or an `error` (the cache failed, is skipped while down, or held a
value we refuse: the database answered). `stats().misses` counts misses and errors alike (every
read the database answered); `stats().errors` counts every cache failure, writes included.

Examples:
    row = await cache.fetch("product:<id>", ("catalog:product:<id>",), load_row)
    async with cache.writing("catalog:product:<id>"):
        async with repo.transaction() as session:
            ...  # the write; committed when this block ends, before the cache hears it
    cache.stats()  # {"hits": 12, "misses": 3, "errors": 0}
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import secrets
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from my_app.config import Settings
from my_app.metrics import CACHE_REQUESTS
from my_app.running import Slot

if TYPE_CHECKING:
    from cashews import Cache as Cashews

logger = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "MEM_SIZE",
    "RETRY_INTERVAL",
    "STATE_TTL",
    "Cache",
    "CacheStats",
    "CacheUnavailableError",
    "clear",
    "current",
    "fetch",
    "ping",
    "running",
    "stats",
    "writing",
]

STATE_TTL = 600.0  # seconds a state outlives its last write: far longer than any write's transaction
MEM_SIZE = 100_000  # entries `mem://` keeps (least recently used dropped first); `mem://?size=N` to change
RETRY_INTERVAL = 1.0  # seconds reads skip an unreachable cache before trying it again
_PENDING_BITS = 16
_PENDING_MASK = (1 << _PENDING_BITS) - 1
_ONE_GENERATION = 1 << _PENDING_BITS
# Before the commit: a generation and a write in flight more; after it: a generation more, one fewer in flight.
_BEGIN = _ONE_GENERATION + 1
_END = _ONE_GENERATION - 1

ReadResult = Literal["hit", "miss", "error"]
_READS = {result: CACHE_REQUESTS.labels(result=result) for result in ("hit", "miss", "error")}
_REFUSED = object()  # a stored value not signed with our secret (never unpickled)


class CacheUnavailableError(Exception):
    """The shared cache cannot be reached, so a write that would leave it stale is refused (503)."""


@dataclass(frozen=True)
class CacheStats:
    """What `stats()` counts since the process started: reads served from the cache (hits) or by the
    database (misses, whether the cache had no value or failed), and cache failures (errors)."""

    hits: int
    misses: int
    errors: int


class Cache:
    """One process's cache: a cashews backend (or none: off), its TTL, and its hit/miss counters."""

    def __init__(
        self,
        url: str | None = None,
        *,
        ttl: float = 300.0,
        timeout: float = 0.5,
        secret: str = "",
        namespace: str = "my_app",
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.timeout = timeout
        self.namespace = namespace
        self.hits = 0
        self.misses = 0
        self.errors = 0
        self._down_until = 0.0
        self._forgetting: set[asyncio.Task[None]] = set()
        # With `hears_writes` (PubSub tells `forget` of every catalog write): how many of this
        # process's own writes of each state are still to be heard, and skipped.
        self.hears_writes = False
        self._own_writes: collections.Counter[str] = collections.Counter()
        self._backend: Cashews | None = None
        # What a backend raises when it fails (we fall back), and when a value is not ours: cashews'
        # own errors join them with a backend.
        self._backend_errors: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError)
        self._unsigned_errors: tuple[type[BaseException], ...] = ()
        if url:
            # Imported only for a cache that is on: cashews imports redis-py, which imports the
            # OpenTelemetry metrics SDK, ~130 ms of a server's start-up for nothing when the cache is
            # off (prod without REDIS_URL).
            from cashews import Cache as Cashews
            from cashews.exceptions import CacheBackendInteractionError, UnSecureDataError

            self._backend_errors += (CacheBackendInteractionError,)
            self._unsigned_errors = (UnSecureDataError,)
            self._backend = Cashews(name=f"{namespace}-cache")
            options: dict[str, Any] = {}
            if url.startswith("mem://") and "size=" not in url:
                options = {"size": MEM_SIZE}
            if url.startswith(("redis://", "rediss://")):
                options = {
                    # Raise on a failure (we fall back ourselves) and never wait long for Redis.
                    "suppress": False,
                    "socket_connect_timeout": timeout,
                    "socket_timeout": timeout,
                    "wait_for_connection_timeout": timeout,
                    "max_connections": 64,
                    "secret": hashlib.sha256(b"my_app cache values\0" + secret.encode()).hexdigest(),
                    "digestmod": "sha256",
                    "check_repr": False,  # cashews would repr() every value it reads back
                }
            self._backend.setup(url, **options)

    @classmethod
    def from_settings(cls, settings: Settings, *, namespace: str = "my_app") -> Cache:
        """The cache `settings` ask for (`Settings.cache_backend_url`; None: off)."""
        return cls(
            settings.cache_backend_url,
            ttl=settings.cache_ttl,
            timeout=settings.cache_timeout,
            secret=settings.secret_key_base or "",
            namespace=namespace,
        )

    @property
    def enabled(self) -> bool:
        return self._backend is not None

    @property
    def shared(self) -> bool:
        """True when the cache is shared by every node (Redis), False for `mem://` or off."""
        return bool(self.url) and not str(self.url).startswith("mem://")

    async def start(self) -> None:
        if self._backend is not None:
            try:
                await asyncio.wait_for(self._backend.init(), self.timeout)
            except self._backend_errors as exc:  # Redis down at start: the app starts, reads use the database
                self._failed("start", exc)

    async def stop(self) -> None:
        if self._forgetting:
            await asyncio.gather(*self._forgetting, return_exceptions=True)
        if self._backend is not None:
            with warnings.catch_warnings():
                # cashews 7.6 closes its redis-py client with `close()`, deprecated since redis-py 5.0.1.
                warnings.simplefilter("ignore", DeprecationWarning)
                await self._backend.close()

    def stats(self) -> CacheStats:
        return CacheStats(hits=self.hits, misses=self.misses, errors=self.errors)

    async def ping(self) -> None:
        """Raise unless the cache answers (an off cache always does)."""
        if self._backend is not None:
            await self._backend.ping()

    async def clear(self) -> None:
        """Forget everything this cache holds (tests: data rolled back must not be served)."""
        if self._backend is not None:
            if self.shared:
                await self._backend.delete_match(f"{self.namespace}:*")
            else:
                await self._backend.clear()

    async def fetch(self, name: str, states: tuple[str, ...], load: Callable[[], Awaitable[T]]) -> T:
        """The value `name` (depending on `states`): from the cache, else `load()`ed and stored.

        `load` returns plain data, or None (not stored: a missing record is looked up each time).
        """
        backend = self._backend
        if backend is None:
            return await load()
        if self._down_until and time.monotonic() < self._down_until:
            self._count_read("error")
            return await load()
        result: ReadResult = "miss"
        try:
            generations = await self._generations(backend, states)
            if generations is not None:
                value_key = f"{self.namespace}:{name}:{generations}"
                value = await self._get(backend, value_key)
                if value is _REFUSED:
                    result = "error"
                elif value is not None:
                    self._count_read("hit")
                    return value  # type: ignore[no-any-return]
        except self._backend_errors as exc:
            self._failed(f"read of {name}", exc)
            self._count_read("error")
            return await load()
        self._count_read(result)
        loaded = await load()
        if generations is not None and loaded is not None:
            try:
                await backend.set(value_key, loaded, expire=self.ttl)
            except self._backend_errors as exc:
                self._failed(f"store of {name}", exc)
        return loaded

    @asynccontextmanager
    async def writing(self, *states: str) -> AsyncIterator[None]:
        """Around a write's transaction: its states change before the commit and after it.

        Raises CacheUnavailableError (nothing written) when the cache cannot be told first.
        """
        backend = self._backend
        if backend is None:
            yield
            return
        keys = [self._key(state) for state in states]
        try:
            await self._start_states(backend, keys)
            for key in keys:
                await backend.incr(key, _BEGIN)
                await backend.expire(key, STATE_TTL)
        except self._backend_errors as exc:
            self._failed("write", exc)
            raise CacheUnavailableError("the cache cannot be reached, so nothing was written") from exc
        try:
            yield
        finally:
            try:
                for key in keys:
                    await backend.incr(key, _END)
            except self._backend_errors as exc:
                # The write stays "in flight" for these states: their readers use the database until
                # the state expires. Stale is impossible; only slower.
                self._failed("end of write", exc)
        if self.hears_writes:
            self._own_writes.update(states)  # done: its announcement will come back to `forget`

    async def _generations(self, backend: Cashews, states: tuple[str, ...]) -> str | None:
        """The states' generations as one key part; None when a value must not be kept now.

        A missing state is created here at a random generation; None while a write to any state is
        in flight, or when another reader or writer created a missing one first (read it next time).
        """
        keys = [self._key(state) for state in states]
        found: list[int | None] = list(await backend.get_many(*keys))
        for index, value in enumerate(found):
            if value is None:
                base = _random_generation()
                if not await backend.set(keys[index], base, expire=STATE_TTL, exist=False):
                    return None
                found[index] = base
        present = [value for value in found if value is not None]
        if any(value & _PENDING_MASK for value in present):
            return None
        return ":".join(format(value >> _PENDING_BITS, "x") for value in present)

    def _count_read(self, result: ReadResult) -> None:
        """One read's result, in `stats()` and in `cache_requests_total`: the one place both are kept."""
        _READS[result].inc()
        if result == "hit":
            self.hits += 1
        else:
            self.misses += 1  # the database answered

    async def _get(self, backend: Cashews, key: str) -> Any:
        """The value under `key`: None when there is none, `_REFUSED` when it is not ours."""
        try:
            return await backend.get(key)
        except self._unsigned_errors:
            # Not signed with our secret: written by someone else into our Redis. Never unpickled;
            # the database answers, and our own value replaces it.
            self.errors += 1
            logger.warning("cache value %s is not signed with this app's secret: ignored", key)
            return _REFUSED

    def forget(self, *states: str) -> None:
        """Another process wrote these states (heard over PubSub): move them on, so no read here
        uses the values kept under them (without `states`: forget everything).

        Called from a PubSub callback, so it schedules the work and returns.
        """
        if self._backend is None:
            return
        if states and all(self._own_writes[state] for state in states):
            for state in states:  # this process's own write: its states moved already
                self._own_writes[state] -= 1
                if not self._own_writes[state]:
                    del self._own_writes[state]
            return
        task = asyncio.get_running_loop().create_task(self._forget(self._backend, states))
        self._forgetting.add(task)
        task.add_done_callback(self._forgetting.discard)

    async def _forget(self, backend: Cashews, states: tuple[str, ...]) -> None:
        try:
            if not states:
                await self.clear()
            for key in map(self._key, states):
                # A new generation, keeping the count of writes in flight here; a missing state stays
                # missing (its first reader starts it at a random generation).
                if await backend.exists(key):
                    await backend.incr(key, _ONE_GENERATION)
        except self._backend_errors as exc:
            self._failed("forget", exc)

    def _key(self, state: str) -> str:
        return f"{self.namespace}:state:{state}"

    async def _start_states(self, backend: Cashews, keys: list[str]) -> None:
        """Create the missing states at a random generation (an existing one is left as it is)."""
        for key in keys:
            await backend.set(key, _random_generation(), expire=STATE_TTL, exist=False)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        self._down_until = time.monotonic() + RETRY_INTERVAL
        logger.warning("cache unavailable (%s): %s", what, _reason(exc))


def _random_generation() -> int:
    """Where a new state starts: never where an old one (expired, or evicted) left values behind."""
    return secrets.randbits(40) << _PENDING_BITS


def _reason(exc: BaseException) -> str:
    """What went wrong, in one line (cashews wraps Redis's error in one with no message)."""
    cause = exc.__cause__ or exc
    return str(cause) or type(cause).__name__


# The running app's cache (the Application installs it); before any app starts, an off one.
running: Slot[Cache] = Slot("cache", Cache())


def current() -> Cache:
    """The cache the module-level functions use (the running app's)."""
    return running.value


async def fetch(name: str, states: tuple[str, ...], load: Callable[[], Awaitable[T]]) -> T:
    """`Cache.fetch` on the running app's cache."""
    return await running.value.fetch(name, states, load)


def writing(*states: str) -> AbstractAsyncContextManager[None]:
    """`Cache.writing` on the running app's cache: wrap a write's transaction in it."""
    return running.value.writing(*states)


def stats() -> CacheStats:
    """Hits, misses and errors of this process's cache (for metrics)."""
    return running.value.stats()


async def ping() -> None:
    """Raise unless the running app's cache answers."""
    await running.value.ping()


async def clear() -> None:
    """Forget everything the running app's cache holds."""
    await running.value.clear()
