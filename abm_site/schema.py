"""The error responses of every API operation, added to the OpenAPI schema in one place.

A drf-spectacular postprocessing hook (``SPECTACULAR_SETTINGS``), so it
covers every view whatever its schema class. What each operation can answer
follows from what the whole API does:

=====  ==========================================================  ============================
code   when                                                        operations
=====  ==========================================================  ============================
400    a query parameter or the body is invalid                    with parameters or a body
401    no credentials, or a bad token                              all
403    the role or token scope does not allow it                   all
404    no such row, or a page past the last                        with a path id or ``page``
409    the write lost a race with concurrent writes; retry          POST, PUT, PATCH, DELETE
413    the body is over ``ABM_MAX_JSON_BYTES``/``_UPLOAD_BYTES``    with a body
415    a Content-Type the operation does not read                  with a body
422    the ``Idempotency-Key`` was used for another request         POST
429    over ``ABM_API_RATE`` (with ``Retry-After``)                 all
503    database unavailable, or a report over its time limit       all
=====  ==========================================================  ============================

Responses an operation documents itself (a 409 for a delete that can be
refused, a 400 with a report) are kept; those without a body get the error
body. 405 is not listed: every documented operation's method is allowed.
"""

from typing import Any

from . import idempotency

ERROR_DETAIL = "ErrorDetail"
VALIDATION_ERROR = "ValidationError"

SCHEMAS: dict[str, dict[str, Any]] = {
    ERROR_DETAIL: {
        "type": "object",
        "description": "An error: what went wrong and, where it helps, what to do.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    VALIDATION_ERROR: {
        "type": "object",
        "description": (
            "Invalid input: each key names a field or parameter (`non_field_errors` for the "
            "whole body, `detail` for a body that cannot be read) and holds its messages, a "
            "list of strings (or nested errors for nested fields)."
        ),
        "additionalProperties": {},
    },
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}

#: code -> (description, schema component, headers)
ERRORS: dict[int, tuple[str, str, dict]] = {
    400: ("Invalid parameters or body.", VALIDATION_ERROR, {}),
    401: ("No credentials, or an invalid, expired or revoked token.", ERROR_DETAIL, {}),
    403: (
        "The role or the token's scope does not allow this (or the second factor is not verified).",
        ERROR_DETAIL,
        {},
    ),
    404: ("No such row, or a page past the last.", ERROR_DETAIL, {}),
    409: (
        "The write collided with concurrent writes of the same rows and stored nothing; "
        "send it again (rows stored meanwhile count as duplicates).",
        ERROR_DETAIL,
        RETRY_AFTER,
    ),
    413: (
        "The body is larger than ABM_MAX_JSON_BYTES (JSON, forms) or ABM_MAX_UPLOAD_BYTES (files).",
        ERROR_DETAIL,
        {},
    ),
    415: ("A Content-Type this operation does not read.", ERROR_DETAIL, {}),
    422: (
        f"The {idempotency.HEADER} was already used for a different request in the last 24 hours.",
        ERROR_DETAIL,
        {},
    ),
    429: ("Over the API rate limit (ABM_API_RATE).", ERROR_DETAIL, RETRY_AFTER),
    503: (
        "The database is unavailable right now, or the report took longer than its time limit.",
        ERROR_DETAIL,
        RETRY_AFTER,
    ),
}

IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": idempotency.HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH},
    "description": (
        "A key of your choice (a UUID) that makes a retry safe: a request repeated with the "
        "same key within 24 hours gets the first answer again (with `Idempotent-Replayed: "
        "true`) and the work is not done twice; the same key with another request is a 422."
    ),
}

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operation_error_codes(method: str, operation: dict) -> list[int]:
    """The error statuses ``operation`` (an OpenAPI operation object) can answer."""
    parameters = operation.get("parameters", [])
    where = {p.get("in") for p in parameters}
    has_body = "requestBody" in operation
    codes = [401, 403, 429, 503]
    if "query" in where or has_body:
        codes.append(400)
    if "path" in where or any(p.get("name") == "page" for p in parameters):
        codes.append(404)
    if has_body:
        codes += [413, 415]
    if method in ("post", "put", "patch", "delete"):
        codes.append(409)
    if method == "post":
        codes.append(422)
    return sorted(codes)


def _response(code: int) -> dict:
    description, component, headers = ERRORS[code]
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def error_responses_hook(result: dict, generator, request, public) -> dict:
    """Postprocessing hook: document every operation's error responses and the error bodies."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in SCHEMAS.items():
        schemas.setdefault(name, schema)
    for item in result.get("paths", {}).values():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for code in operation_error_codes(method, operation):
                documented = responses.setdefault(str(code), _response(code))
                if "content" not in documented:
                    documented["content"] = _response(code)["content"]
            if method == "post":
                names = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
                if ("header", idempotency.HEADER) not in names:
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
    return result
