"""``Idempotency-Key`` for API creates: a repeated request returns the first answer.

A client that sends ``POST`` with an ``Idempotency-Key: <up to 255 visible
ASCII characters>`` header and does not get the answer (a timeout, a lost
connection) sends the same request with the same key again: it gets the
first answer (status and body, with ``Idempotent-Replayed: true``) and the
work is not done again. Keys belong to the user (any of their tokens or
their session) and last ``KEEP`` (24 hours); the beat task
``abm_site.idempotency_keys_purge`` deletes older ones. The same key with a
different request (method, path, query or body) is a 422.

The key's row is inserted before the work and in the same transaction as
the work, then completed with the answer, so:

* two identical requests at once do the work once: the second waits on the
  first's row (the unique index) and then answers what the first answered;
* a request that fails (an exception, a 5xx, a 409 or 429 to retry) leaves
  no key behind: its retry does the work. Refused requests (400 from
  validation raised before any work) are not kept either, so the corrected
  request can reuse the key.
"""

import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone
from django.utils.http import urlencode
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from .models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEEP = timedelta(hours=24)
MAX_KEY_LENGTH = 255
#: Answers that ask the client to retry: never kept, so the retry does the work.
RETRY_STATUSES = frozenset({status.HTTP_409_CONFLICT, status.HTTP_429_TOO_MANY_REQUESTS})


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = (
        f"This {HEADER} was already used for a different request (another endpoint, "
        "query or body) in the last 24 hours. Send a new key with a new request."
    )
    default_code = "idempotency_key_reused"


class KeyInvalid(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = (
        f"The {HEADER} header must be 1 to 255 visible ASCII characters (a UUID is a good choice)."
    )
    default_code = "idempotency_key_invalid"


class IdempotentCreateMixin:
    """For API views: a ``POST`` with an ``Idempotency-Key`` is done once per key and user.

    Hooks in after DRF's ``initial()`` (authentication, permissions,
    throttling), so only a request that may proceed claims a key, and wraps
    the view's ``post`` handler for that request.
    """

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        key = request.headers.get(HEADER)
        if request.method == "POST" and key is not None and hasattr(self, "post"):
            self.post = functools.partial(idempotent_call, self.post, _valid_key(key))


def idempotent_call(handler: Callable[..., Response], key: str, request: Request, *args, **kwargs):
    """Run ``handler`` once per (user, key); replay its kept answer to repeats."""
    fingerprint = request_fingerprint(request)
    with transaction.atomic():
        IdempotencyKey.objects.filter(
            user=request.user, key=key, created_at__lt=timezone.now() - KEEP
        ).delete()  # an expired key is a new key
        # Waits here while a concurrent request with this key is still at work (unique index).
        record, created = IdempotencyKey.objects.get_or_create(
            user=request.user,
            key=key,
            defaults={"request_hash": fingerprint, "status_code": 0},
        )
        if not created:
            if record.request_hash != fingerprint:
                raise KeyReused()
            return Response(
                record.body,
                status=record.status_code,
                headers={**record.headers, REPLAYED_HEADER: "true"},
            )
        response = handler(request, *args, **kwargs)
        if not _keepable(response):
            record.delete()
            return response
        record.status_code = response.status_code
        record.body = response.data
        record.headers = {k: v for k, v in response.items() if k.lower() != "content-type"}
        record.save(update_fields=["status_code", "body", "headers", "updated_at"])
    return response


def _keepable(response: Any) -> bool:
    return (
        isinstance(response, Response)
        and response.status_code < 500
        and response.status_code not in RETRY_STATUSES
    )


def _valid_key(value: str) -> str:
    key = value.strip()
    if not (0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
        raise KeyInvalid()
    return key


def request_fingerprint(request: Request) -> str:
    """SHA-256 of what makes a request this request: method, path, query and parsed body.

    The body is taken as parsed (so JSON key order and spacing do not
    matter); uploaded files count by their content.
    """
    digest = hashlib.sha256()
    query = urlencode(sorted(request.query_params.lists()), doseq=True)
    digest.update(f"{request.method} {request.path}?{query}\n".encode())
    for part in _canonical_parts(request.data):
        digest.update(part)
    return digest.hexdigest()


def _canonical_parts(data: Any) -> Iterator[bytes]:
    if not isinstance(data, QueryDict):
        text = json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
        yield text.encode("utf-8", "surrogatepass")
        return
    for name in sorted(data):
        for value in data.getlist(name):
            yield json.dumps(name).encode() + b"="
            if isinstance(value, UploadedFile):
                yield b"file:" + json.dumps(value.name).encode()
                yield from value.chunks()
                value.seek(0)
            else:
                yield json.dumps(value).encode()
            yield b"\n"


def idempotency_keys_purge() -> int:
    """Delete keys older than ``KEEP``; the number deleted."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - KEEP).delete()
    return deleted
