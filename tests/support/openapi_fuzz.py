"""schemathesis over the app's OpenAPI document, driven from an async test in the test's sandbox.

schemathesis' own ASGI transport runs the app in a thread with an event loop of its own, where the
test's sandboxed connection cannot follow. So schemathesis only generates the cases (hypothesis,
derandomized: the same cases on every run) and validates the responses; the requests go through
the test's httpx client, on the test's loop and transaction.

    schema = api_schema(web_app.openapi())
    operation = schema[path][method]
    for case in generated_cases(operation, GenerationMode.POSITIVE):
        response = await client.request(**request_kwargs(case, {"authorization": "Bearer ..."}))
        case.validate_response(response, checks=CHECKS)
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case
from schemathesis.checks import CheckContext, CheckFunction, load_all_checks, not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.openapi.checks import UndefinedStatusCode
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi import checks as openapi_checks

# Enough to reach each operation's branches (missing fields, wrong types, unknown ids, bad
# tokens) while the whole module stays well under a minute and a half on two CPUs.
MAX_EXAMPLES = 15
BASE_URL = "http://localhost:4000"


def explicitly_documented_status(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every status but a server error must be listed by its own number, not only by `default`.

    Every API operation documents `default` (an unexpected error's body), which makes
    schemathesis' `status_code_conformance` accept any status at all; this check does not.
    """
    if case.method.upper() != case.operation.method.upper():
        return None  # a method the path does not have: `unsupported_method` judges the answer
    responses = case.operation.definition.raw.get("responses", {})
    documented = [str(code) for code in responses if code != "default"]
    status = response.status_code
    if status >= 500 or str(status) in documented or f"{str(status)[0]}XX" in documented:
        return True
    raise UndefinedStatusCode(
        operation=case.operation.label,
        status_code=status,
        defined_status_codes=documented,
        allowed_status_codes=[int(code) for code in documented if code.isdigit()],
        message=f"Received: {status}\nDocumented (besides `default`): {', '.join(documented)}",
    )


def checks() -> list[CheckFunction]:
    """The checks every response goes through.

    Left out: the checks that send requests of their own (`ignored_auth`, `use_after_free`,
    `ensure_resource_availability`, `unsupported_method`, `missing_required_header`,
    `object_level_authorization`, `allow_header_conformance`) — they would go through
    schemathesis' transport, outside the test's transaction — and `positive_data_acceptance`:
    schema-valid data is refused by design when it is not valid for the app (an unknown id is
    404, a taken email 422, a bad password 401).
    """
    load_all_checks()
    return [
        not_a_server_error,
        openapi_checks.status_code_conformance,
        explicitly_documented_status,
        openapi_checks.content_type_conformance,
        openapi_checks.response_headers_conformance,
        openapi_checks.response_schema_conformance,
        openapi_checks.negative_data_rejection,
        openapi_checks.missing_required_header,
        openapi_checks.unsupported_method,
        openapi_checks.allow_header_conformance,
    ]


def api_schema(document: dict[str, Any]) -> BaseSchema:
    """The schemathesis schema of `document`, without generated credentials (the test sends real ones)."""
    config = SchemathesisConfig()
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema.config.generation.update(with_security_parameters=False, deterministic=True)
    return schema


def operations(schema: BaseSchema) -> list[APIOperation]:
    return [result.ok() for result in schema.get_all_operations()]


def generated_cases(
    operation: APIOperation,
    mode: GenerationMode,
    *,
    path_parameters: dict[str, Any] | None = None,
    max_examples: int = MAX_EXAMPLES,
) -> list[Case]:
    """Up to `max_examples` cases of `operation`, the same ones on every run (derandomized).

    Empty when `mode` is negative and nothing of the operation can be made invalid (a string
    path parameter is valid whatever it holds).
    """
    cases: list[Case] = []
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @settings(
        derandomize=True,
        database=None,
        max_examples=max_examples,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(case: Case) -> None:
        cases.append(case)

    try:
        collect()
    except Unsatisfiable:
        return []
    return cases


def coverage_cases(schema: BaseSchema, operation: APIOperation) -> list[Case]:
    """schemathesis' coverage phase: boundary values, each required field missing, wrong types,
    malformed content types, methods the path does not have (deterministic, no randomness)."""
    return list(
        schema.iter_coverage_cases(
            operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=schema.config.generation_for(operation=operation),
        )
    )


def request_kwargs(case: Case, headers: dict[str, str]) -> dict[str, Any]:
    """`case` as keyword arguments of `httpx.AsyncClient.request`, with `headers` added."""
    sent = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    kwargs: dict[str, Any] = {
        "method": sent["method"],
        "url": sent["url"],
        "headers": sent["headers"],
        "params": sent.get("params") or None,
    }
    if "json" in sent:
        kwargs["json"] = sent["json"]
    if "data" in sent:
        data = sent["data"]
        kwargs["content" if isinstance(data, bytes | str) else "data"] = data
    if sent.get("cookies"):
        kwargs["headers"] = {**kwargs["headers"], "cookie": "; ".join(f"{k}={v}" for k, v in sent["cookies"].items())}
    return kwargs
