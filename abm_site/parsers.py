"""Request parsers of the API (its own module: the REST settings import it early)."""

import io
import json
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


class StrictJSONParser(JSONParser):
    """JSON without lone UTF-16 surrogates (``"\\ud800"``), which no database stores.

    Python's JSON reader accepts them; the database driver then fails to
    encode the text and the request would end in a 500. Bodies are checked
    only when they contain an escaped surrogate at all (paired ones, an
    escaped emoji, are fine).
    """

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: dict | None = None
    ) -> Any:
        body = stream.read() if stream is not None else b""
        data = super().parse(io.BytesIO(body), media_type, parser_context)
        if _ESCAPED_SURROGATE.search(body):
            try:
                json.dumps(data, ensure_ascii=False).encode()
            except UnicodeEncodeError:
                raise ParseError(
                    "JSON parse error - the body contains a lone UTF-16 surrogate "
                    "(a \\ud800-\\udfff escape not part of a pair); send valid Unicode text."
                ) from None
        return data
