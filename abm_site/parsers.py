"""Request parsers of the API (its own module: the REST settings import it early)."""

import io
import json
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")

#: Arrays and objects within each other. API bodies are one or two levels deep (a list of
#: rows, a row's values); Python's JSON reader recurses per level and fails near 1,000.
MAX_JSON_DEPTH = 64


def json_depth_exceeds(data: Any, limit: int) -> bool:
    """Whether arrays and objects in ``data`` nest more than ``limit`` levels (no recursion)."""
    stack = [(data, 1)] if isinstance(data, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class StrictJSONParser(JSONParser):
    """JSON that any view can handle: not nested too deeply, no lone UTF-16 surrogates.

    A document nested more than ``MAX_JSON_DEPTH`` levels is a 400 naming the
    limit (deep enough documents exhaust Python's stack, in the reader or in
    whatever walks the data next). Lone surrogates (``"\\ud800"``) are read by
    Python but no database stores them: the driver would fail to encode the
    text and the request end in a 500. Bodies are checked only when they
    could offend: more brackets than the depth limit, an escaped surrogate at
    all (paired ones, an escaped emoji, are fine).
    """

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: dict | None = None
    ) -> Any:
        body = stream.read() if stream is not None else b""
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise _too_deep() from None
        if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and json_depth_exceeds(
            data, MAX_JSON_DEPTH
        ):
            raise _too_deep()
        if _ESCAPED_SURROGATE.search(body):
            try:
                json.dumps(data, ensure_ascii=False).encode()
            except UnicodeEncodeError:
                raise ParseError(
                    "JSON parse error - the body contains a lone UTF-16 surrogate "
                    "(a \\ud800-\\udfff escape not part of a pair); send valid Unicode text."
                ) from None
        return data


def _too_deep() -> ParseError:
    return ParseError(
        f"JSON parse error - the body is nested more than {MAX_JSON_DEPTH} levels deep "
        "(arrays and objects within each other); send a flatter document."
    )
