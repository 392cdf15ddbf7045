"""The app's Prometheus metrics, defined in one place (the seed's `telemetry.ex` metrics list).

Each metric is recorded where its event happens (the HTTP edge, the Repo, the job middleware, the
socket, PubSub, Presence, the cache) and exported as Prometheus text at `GET /metrics`.

**Several worker processes** (`myapp server --workers N`): prometheus-client's multiprocess mode.
`myapp server` points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory before uvicorn starts its
workers; each worker writes its values to memory-mapped files there, and whichever worker answers
`/metrics` adds up every worker's files. Counters and histograms sum over processes (those of
exited workers included, so totals never go back); gauges of live things (sockets, pool use) sum
over the live processes; per-process gauges (memory, open files, event-loop lag) keep a `pid` label,
for live processes only. The live-gauge files of a worker that died are dropped when /metrics is
read (`metrics_export`). Without the variable (one worker, `myapp worker`, tests, `myapp
console`), values live in this process's memory.

No `*_created` series: they double the output and no dashboard reads them.

All metrics live in `registry`, not prometheus-client's global one: the app's metrics are exactly
this list, whatever libraries register.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Chosen by prometheus-client when it is imported; reading the variable later changes nothing.
MULTIPROCESS = MULTIPROCESS_ENV in os.environ

disable_created_metrics()  # type: ignore[no-untyped-call]
registry = CollectorRegistry(auto_describe=True)

# Request latencies: 1 ms to 10 s (prometheus-client's defaults start at 5 ms, too coarse for reads).
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Jobs run longer: 10 ms to 10 minutes.
_JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0)

# --- HTTP (my_app_web.telemetry) ---
HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by route template and status.",
    ["method", "route", "status"],
    registry=registry,
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request (to its last body byte), by route template.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
    registry=registry,
)

# --- Database (my_app.repo) ---
DB_QUERY_DURATION = Histogram(
    "db_query_duration_seconds",
    "Time of each SQL statement the Repo runs.",
    buckets=_LATENCY_BUCKETS,
    registry=registry,
)
DB_POOL_CHECKOUT_WAIT = Histogram(
    "db_pool_checkout_wait_seconds",
    "Time a request waited for a pooled database connection.",
    buckets=_LATENCY_BUCKETS,
    registry=registry,
)
DB_POOL_CONNECTIONS = Gauge(
    "db_pool_connections",
    "The Repo pool's connections, checked out (in_use) or waiting (idle).",
    ["state"],
    multiprocess_mode="livesum",
    registry=registry,
)

# --- Jobs (my_app.jobs) ---
JOBS_FINISHED = Counter(
    "jobs_finished",
    "Job attempts that ended, by queue, task and outcome (succeeded, failed, cancelled, discarded).",
    ["queue", "task", "outcome"],
    registry=registry,
)
JOB_DURATION = Histogram(
    "job_duration_seconds",
    "Time of each job attempt, by queue and task.",
    ["queue", "task"],
    buckets=_JOB_BUCKETS,
    registry=registry,
)
# Jobs waiting, running, failed ... (`jobs{queue, task, state}`) are counted in the database when
# /metrics is read: they are the queue's state, not this process's.

# --- Sockets, channels, PubSub, Presence (my_app_web.channels, my_app.pubsub, my_app.presence) ---
SOCKETS_CONNECTED = Gauge(
    "sockets_connected", "WebSocket connections open now.", multiprocess_mode="livesum", registry=registry
)
CHANNEL_JOINS = Counter(
    "channel_joins",
    "Channel joins, by channel (the topic's prefix) and result (ok, error).",
    ["channel", "result"],
    registry=registry,
)
PUBSUB_MESSAGES = Counter(
    "pubsub_messages",
    "PubSub messages broadcast by this node (sent) and handed to its subscribers (delivered).",
    ["direction"],
    registry=registry,
)
PUBSUB_DROPPED = Counter(
    "pubsub_dropped_messages",
    "PubSub messages a subscriber never got (its mailbox was full, or it was too slow).",
    ["reason"],
    registry=registry,
)
PRESENCES_TRACKED = Gauge(
    "presences_tracked",
    "Presences tracked by this node (its own joins; other nodes count theirs).",
    multiprocess_mode="livesum",
    registry=registry,
)

# --- Cache (my_app.cache) ---
CACHE_REQUESTS = Counter(
    "cache_requests",
    "Cached reads, by result: hit, miss, or error (the database answered).",
    ["result"],
    registry=registry,
)

# --- The process (sampled every few seconds) ---
PROCESS_RESIDENT_MEMORY = Gauge(
    "process_resident_memory_bytes", "Resident memory of the process.", multiprocess_mode="liveall", registry=registry
)
PROCESS_OPEN_FDS = Gauge(
    "process_open_fds",
    "Open file descriptors of the process (sockets included).",
    multiprocess_mode="liveall",
    registry=registry,
)
EVENT_LOOP_LAG = Gauge(
    "event_loop_lag_seconds",
    "How late the event loop ran a timer, at the last sample.",
    multiprocess_mode="liveall",
    registry=registry,
)
