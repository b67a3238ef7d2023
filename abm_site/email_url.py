"""``EMAIL_URL`` -> Django's ``EMAIL_*`` settings (one URL, like ``DATABASE_URL``).

Read by ``settings.py`` before Django is set up, so it imports only the
standard library. Schemes:

* ``smtp://user:pass@host:25`` plain SMTP (port 25 by default);
* ``smtp+tls://user:pass@host:587`` SMTP upgraded with STARTTLS (port 587);
* ``smtps://user:pass@host:465`` SMTP over TLS from the first byte (port 465);
* ``console://`` prints each mail to the worker's or server's output;
* ``file://var/mail`` or ``file:///abs/dir`` writes each mail to a file there
  (a relative path is taken from the project directory);
* ``memory://`` keeps mails in ``django.core.mail.outbox`` (tests).

User name and password are percent-decoded (write ``@`` as ``%40``); the
query string may set ``timeout`` (seconds).
"""

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

_SMTP = "django.core.mail.backends.smtp.EmailBackend"
_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "memory": "django.core.mail.backends.locmem.EmailBackend",
}
_SMTP_SCHEMES = {
    "smtp": (25, False, False),
    "smtp+tls": (587, True, False),
    "smtps": (465, False, True),
}


class EmailUrlError(ValueError):
    """An ``EMAIL_URL`` that cannot be used; the message says how to write it."""


def parse_email_url(url: str, base_dir: Path) -> dict[str, object]:
    """The ``EMAIL_*`` settings ``url`` stands for."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    config: dict[str, object] = {}
    if "timeout" in query:
        try:
            config["EMAIL_TIMEOUT"] = float(query["timeout"])
        except ValueError as exc:
            raise EmailUrlError(
                f"EMAIL_URL: timeout must be a number of seconds, not {query['timeout']!r}."
            ) from exc
    if scheme in _SMTP_SCHEMES:
        default_port, use_tls, use_ssl = _SMTP_SCHEMES[scheme]
        if not parts.hostname:
            raise EmailUrlError(
                f"EMAIL_URL: {scheme}:// needs a host, e.g. {scheme}://user:password@mail.example.com."
            )
        try:
            port = parts.port or default_port
        except ValueError as exc:
            raise EmailUrlError(
                f"EMAIL_URL: the port of {parts.netloc.rsplit('@', 1)[-1]!r} is not a number."
            ) from exc
        config.update(
            EMAIL_BACKEND=_SMTP,
            EMAIL_HOST=parts.hostname,
            EMAIL_PORT=port,
            EMAIL_HOST_USER=unquote(parts.username or ""),
            EMAIL_HOST_PASSWORD=unquote(parts.password or ""),
            EMAIL_USE_TLS=use_tls,
            EMAIL_USE_SSL=use_ssl,
        )
        return config
    if scheme in _BACKENDS:
        config["EMAIL_BACKEND"] = _BACKENDS[scheme]
        if scheme == "file":
            raw = unquote(parts.netloc + parts.path)
            if not raw:
                raise EmailUrlError("EMAIL_URL: file:// needs a directory, e.g. file://var/mail.")
            path = Path(raw)
            config["EMAIL_FILE_PATH"] = str(path if path.is_absolute() else base_dir / path)
        return config
    known = ", ".join(f"{s}://" for s in (*_SMTP_SCHEMES, *_BACKENDS))
    raise EmailUrlError(f"EMAIL_URL: unknown scheme {scheme or '(none)'!r}; use one of {known}.")
