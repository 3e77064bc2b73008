"""URL identity: one canonical string per article, whatever form a page links it in.

Links appear with and without trailing slashes, with tracking parameters, upper- and
lower-case percent escapes, ``www.`` or not, http or https. The archive keys items by URL,
so every variant must fold to one string or a redesign would look like a wave of new items.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|yclid|msclkid|mc_cid|mc_eid|_ga|_gl|igshid"
    r"|ref|ref_src|spm|cmpid|from)$",
    re.IGNORECASE,
)
DEFAULT_PORTS = {"http": 80, "https": 443}
_NOT_ARTICLE_SEGMENTS = {
    "tag", "tags", "category", "categories", "author", "page", "feed", "search", "wp-admin",
    "wp-content", "wp-includes", "wp-json", "comments", "attachment", "archives-date", "date",
    "login", "topics", "series",
}  # fmt: skip
_FILE_SUFFIX = re.compile(
    r"\.(jpe?g|png|gif|webp|svg|pdf|zip|css|js|xml|json|rss|atom|ico|mp4|mp3)$", re.I
)
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_SAFE_PATH = "/:@!$&'()*+,;=-._~"


def site_of(url: str) -> str:
    """The site a URL belongs to: its host, lower-cased, without ``www.``."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host.removeprefix("www.")


def canonical_url(href: str, base: str) -> str | None:
    """Resolve ``href`` against ``base`` and return its canonical form, or None if unusable.

    Same-site links take the scheme and host spelling of ``base`` (http/https folded).
    Only http and https URLs are accepted.
    """
    href = href.strip()
    if not href or href.startswith(("javascript:", "mailto:", "tel:", "data:", "#")):
        return None
    try:
        return _canonical(href, base)
    except ValueError:  # "http://[::1", port 99999 and other unparseable links
        return None


def _canonical(href: str, base: str) -> str | None:
    parts = urlsplit(urljoin(base, href))
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    base_parts = urlsplit(base)
    if site_of(base) == site_of(href if parts.netloc else base) and base_parts.hostname:
        scheme, host, port = base_parts.scheme.lower(), base_parts.hostname, base_parts.port
    else:
        host, port = parts.hostname, parts.port
    netloc = host.lower()
    if port and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, _canonical_path(parts.path), _clean_query(parts.query), ""))


def _canonical_path(path: str) -> str:
    """Normalise escapes (upper-case, unreserved decoded), dot segments, trailing slash."""
    path = quote(unquote(_PERCENT.sub(lambda m: m.group(0).upper(), path)), safe=_SAFE_PATH)
    if not path:
        return "/"
    normal = posixpath.normpath(path)
    normal = "/" if normal in (".", "//") else normal
    last = normal.rsplit("/", 1)[-1]
    if not normal.endswith("/") and "." not in last:
        normal += "/"
    return normal


def _clean_query(query: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)]
    kept = sorted((k, v) for k, v in pairs if not TRACKING_PARAMS.match(k))
    return urlencode(kept)


def is_same_site(url: str, base: str) -> bool:
    """Whether ``url`` is on the site of ``base`` (``www.`` ignored)."""
    return site_of(url) == site_of(base)


def looks_like_article(url: str, listing_url: str) -> bool:
    """Whether a same-site canonical URL can be an article (not a listing, asset or page)."""
    if not is_same_site(url, listing_url):
        return False
    parts = urlsplit(url)
    segments = [s.lower() for s in parts.path.split("/") if s]
    if not segments or url == canonical_url(listing_url, listing_url):
        return False
    if _NOT_ARTICLE_SEGMENTS.intersection(segments) or _FILE_SUFFIX.search(parts.path):
        return False
    query_keys = {k for k, _ in parse_qsl(parts.query)}
    return not query_keys & {"s", "paged", "cat", "tag", "replytocom"}
