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


#: Mail providers anyone can sign up with: an address there names no company, so lead-to-
#: account matching never joins it to an account. A shipped list; extend it in code review.
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.es",
        "yahoo.it",
        "yahoo.co.jp",
        "yahoo.com.br",
        "ymail.com",
        "rocketmail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "hotmail.it",
        "hotmail.es",
        "outlook.com",
        "outlook.fr",
        "outlook.de",
        "live.com",
        "live.co.uk",
        "live.fr",
        "live.de",
        "msn.com",
        "passport.com",
        "aol.com",
        "aim.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "tutanota.com",
        "tutanota.de",
        "tuta.io",
        "mail.com",
        "email.com",
        "usa.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "gmx.fr",
        "web.de",
        "t-online.de",
        "freenet.de",
        "arcor.de",
        "posteo.de",
        "mailbox.org",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "sfr.fr",
        "libero.it",
        "virgilio.it",
        "tiscali.it",
        "alice.it",
        "yandex.com",
        "yandex.ru",
        "ya.ru",
        "mail.ru",
        "bk.ru",
        "inbox.ru",
        "list.ru",
        "rambler.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "sohu.com",
        "yeah.net",
        "naver.com",
        "daum.net",
        "hanmail.net",
        "rediffmail.com",
        "zoho.com",
        "zohomail.com",
        "fastmail.com",
        "fastmail.fm",
        "hushmail.com",
        "btinternet.com",
        "sky.com",
        "virginmedia.com",
        "talktalk.net",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "bellsouth.net",
        "cox.net",
        "charter.net",
        "earthlink.net",
        "optonline.net",
        "shaw.ca",
        "rogers.com",
        "sympatico.ca",
        "bigpond.com",
        "bigpond.net.au",
        "optusnet.com.au",
        "xtra.co.nz",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "onet.pl",
        "telenet.be",
        "skynet.be",
        "ziggo.nl",
        "kpnmail.nl",
        "home.nl",
        "bluewin.ch",
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
        "ig.com.br",
        "hey.com",
        "duck.com",
    ]
)


def email_domain(email: str) -> str:
    """The normalised domain of an e-mail address (``Ann@Mail.Example.com`` → ``mail.example.com``)."""
    return (normalize_domain(email.rsplit("@", 1)[-1]) or "") if "@" in email else ""
