"""Domain normalisation, shared by the model, imports and the API."""

import re

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def normalize_domain(value: str | None) -> str | None:
    """``https://WWW.Example.com/path`` → ``example.com``; blank → ``None``.

    One account per company: the same site written differently must collide
    on the unique index, so every write path stores this form.
    """
    if value is None:
        return None
    domain = value.strip().lower()
    domain = _SCHEME.sub("", domain)
    domain = domain.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    domain = domain.rsplit("@", 1)[-1]  # user@host
    domain = domain.split(":", 1)[0]  # port
    domain = domain.rstrip(".")
    if domain.startswith("www."):
        domain = domain[4:]
    return domain or None
