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


_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$"
)


def clean_domain(value: str) -> str | None:
    """Normalised domain, or ``ValueError`` with the reason."""
    domain = normalize_domain(value)
    if domain is None:
        return None
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"'{value.strip()[:100]}' is not a web domain") from None
    if not _DOMAIN_RE.match(domain):
        raise ValueError(f"'{value.strip()[:100]}' is not a web domain")
    return domain
