"""URL identity: one canonical string per article, whatever form a page links it in.

Links appear with and without trailing slashes, with tracking parameters, upper- and
lower-case percent escapes, ``www.`` or not, http or https. The archive keys items by URL,
so every variant must fold to one string or a redesign would look like a wave of new items.
"""

from __future__ import annotations

import posixpath
import re
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

# Parameters that say who clicked or which session asked, never which article: they must
# not make identity, or a new session id in every link would be a wave of "new" items.
TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|yclid|msclkid|ttclid|twclid|li_fat_id|igsh"
    r"|igshid|srsltid|s_kwcid|ef_id|mc_cid|mc_eid|_ga|_gl|_kx|ref|ref_src|spm|cmpid|from"
    r"|phpsessid|jsessionid|sessid|sessionid|session_id|aspsessionid\w*|cfid|cftoken"
    r"|zenid|oscsid|xtor|_hsenc|_hsmi|mkt_tok)$",
    re.IGNORECASE,
)
# Names that carry a session on some sites and the article on others (``?sid=123`` is a
# story id on Slash-style sites): a session only when the value is a session token.
_SESSION_OR_ID = re.compile(r"^(sid|session|s_id)$", re.IGNORECASE)
# A session token: long, and random (letters and digits mixed), unlike an id or a slug.
# 20 characters at least: PHP's are 26 or 32, Java's 32, ASP's 24; a story id such as
# news20241203a001 is shorter.
_TOKEN = re.compile(r"(?=[^/]*\d)(?=[^/]*[A-Za-z])[A-Za-z0-9_\-.,]{20,256}")
# A session id in a path parameter (Java servlets: ``/slug;jsessionid=ABC``, PHP ``;sid=``).
_PATH_SESSION = re.compile(r";(jsessionid|phpsessid|sid|sessionid)=([^/?#;]*)", re.IGNORECASE)
# ASP.NET cookieless sessions put the session in a path segment: ``/(S(lit3py55…))/`` or
# ``/(X(1)S(…)A(…))/``, the same article under a new path for every visitor.
_ASPNET_SESSION = re.compile(r"/\((?:[A-Z]\([A-Za-z0-9_\-]*\))+\)(?=/|$)")
# What browsers drop from anywhere in a URL (WHATWG URL: ASCII tab or newline).
_TAB_NEWLINE = re.compile("[\t\n\r]")
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
_DIRECTORY_INDEX = re.compile(r"index\.(?:html?|shtml|php|aspx?|jsp)", re.IGNORECASE)
_SAFE_PATH = "/:@!$&'()*+,;=-._~"
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~-]*")


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
    href = _TAB_NEWLINE.sub("", href).strip()
    if not href or href.startswith(("javascript:", "mailto:", "tel:", "data:", "#")):
        return None
    try:
        return _canonical(href, base)
    except ValueError:  # "http://[::1", port 99999 and other unparseable links
        return None


def _canonical(href: str, base: str) -> str | None:
    parts = urlsplit(urljoin(base, href))
    scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    if scheme not in DEFAULT_PORTS or not host or port == 0:
        return None  # port 0 names no service: dropping it, as a falsy port, fetched port 80
    base_parts = urlsplit(base)
    if base_parts.hostname and site_of_host(host) == site_of_host(base_parts.hostname):
        scheme, host, port = base_parts.scheme.lower(), base_parts.hostname, base_parts.port
    netloc = host.lower()
    if port and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, _canonical_path(parts.path), _clean_query(parts.query), ""))


def site_of_host(host: str) -> str:
    return host.lower().removeprefix("www.")


def _canonical_path(path: str) -> str:
    """Normalise escapes (upper-case, unreserved decoded), dot segments, trailing slash;
    drop session ids carried as path parameters or ASP.NET session segments.

    Escapes of bytes that are no UTF-8 (``caf%E9``, a Latin-1 era link) are kept as they
    are: decoding them to U+FFFD would give ``caf%E9`` and ``caf%E8`` one identity."""
    if ";" in path:
        path = _PATH_SESSION.sub(_drop_path_session, path)
    if "(" in path:
        path = _ASPNET_SESSION.sub("", path)
    if not _PLAIN_PATH.fullmatch(path):  # most paths need no re-escaping
        upper = _PERCENT.sub(lambda m: m.group(0).upper(), path)
        path = quote(
            unquote(upper, errors="surrogateescape"), safe=_SAFE_PATH, errors="surrogateescape"
        )
    if not path:
        return "/"
    if "." not in path and "//" not in path:  # nothing for normpath to do
        return path if path.endswith("/") else path + "/"
    normal = posixpath.normpath(path)
    normal = "/" if normal in (".", "//") else normal
    last = normal.rsplit("/", 1)[-1]
    if _DIRECTORY_INDEX.fullmatch(last):  # /slug/index.html is /slug/ on every server
        return normal[: -len(last)]
    if not normal.endswith("/") and "." not in last:
        normal += "/"
    return normal


def _drop_path_session(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    return match.group(0) if _SESSION_OR_ID.match(name) and not _TOKEN.fullmatch(value) else ""


def _clean_query(query: str) -> str:
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True, errors="surrogateescape")
    kept = sorted((k, v) for k, v in pairs if not _is_session_or_tracking(k, v))
    return urlencode(kept, errors="surrogateescape")


def _is_session_or_tracking(name: str, value: str) -> bool:
    if _SESSION_OR_ID.match(name):
        return _TOKEN.fullmatch(value) is not None
    return TRACKING_PARAMS.match(name) is not None


def is_same_site(url: str, base: str) -> bool:
    """Whether ``url`` is on the site of ``base`` (``www.`` ignored)."""
    return site_of(url) == site_of(base)


def looks_like_article(url: str, listing_url: str) -> bool:
    """Whether a same-site canonical URL can be an article (not a listing, asset or page)."""
    return PageUrls(listing_url).is_article(url)


class PageUrls:
    """The links of one page, resolved against its URL with a cache.

    A listing links each article two or three times (image, title, "read more") and has a
    hundred other links; resolving each distinct href once keeps extraction cheap.
    """

    # Links remembered at most (each map): a page seen for weeks links ever new articles.
    MAX_REMEMBERED = 4096

    def __init__(self, page_url: str) -> None:
        self.page_url = page_url
        self.site = site_of(page_url)
        self.canonical_page = canonical_url(page_url, page_url)
        self._canonical: dict[str, str | None] = {}
        self._articles: dict[str, str | None] = {}
        parts = urlsplit(self.canonical_page or page_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"

    def canonical(self, href: str) -> str | None:
        """``canonical_url(href, page_url)``, cached (None for an href that is no URL)."""
        if href not in self._canonical:
            if len(self._canonical) >= self.MAX_REMEMBERED:
                self._canonical.clear()
            try:
                url = self._root_relative(href) or canonical_url(href, self.page_url)
            except ValueError:  # a lone surrogate from JSON: not encodable, so no address
                url = None
            self._canonical[href] = url
        return self._canonical[href]

    def _root_relative(self, href: str) -> str | None:
        """Fast path for the common ``/path?query`` link: no joining, one split."""
        if not href.startswith("/") or href.startswith("//"):
            return None
        rest = _TAB_NEWLINE.sub("", href).split("#", 1)[0]
        path, _, query = rest.partition("?")
        if "." in path or "\\" in path:  # dot segments and oddities take the full path
            return None
        clean = _clean_query(query)
        return f"{self.origin}{_canonical_path(path)}{'?' + clean if clean else ''}"

    def article(self, href: str) -> str | None:
        """The canonical article URL an href points to, or None for any other link."""
        if href not in self._articles:
            if len(self._articles) >= self.MAX_REMEMBERED:
                self._articles.clear()
            url = None if self._obviously_elsewhere(href) else self.canonical(href)
            self._articles[href] = url if url is not None and self.is_article(url) else None
        return self._articles[href]

    def _obviously_elsewhere(self, href: str) -> bool:
        """An absolute link whose authority does not even mention this site's host."""
        head = href.lstrip()[:8].lower()
        if head.startswith(("http://", "https://", "//")):
            authority = href.lstrip().split("//", 1)[1].split("/", 1)[0].lower()
            return self.site not in authority
        return False

    def is_article(self, url: str) -> bool:
        if site_of(url) != self.site or url == self.canonical_page:
            return False
        parts = urlsplit(url)
        segments = [s.lower() for s in parts.path.split("/") if s]
        if not segments or _NOT_ARTICLE_SEGMENTS.intersection(segments):
            return False
        if _FILE_SUFFIX.search(parts.path):
            return False
        query_keys = {k for k, _ in parse_qsl(parts.query)}
        return not query_keys & {"s", "paged", "cat", "tag", "replytocom"}


@lru_cache(maxsize=256)
def page_urls(page_url: str) -> PageUrls:
    """The process's one :class:`PageUrls` of ``page_url``: a warm crawl worker reads the
    same listings check after check, and their links resolve the same way every time
    (resolving is a pure function of the href and the page's URL)."""
    return PageUrls(page_url)


def topic_name_for(url: str) -> str:
    """Default topic name: the listing's last path segment, decoded (``nato``, ``英国``).

    Here, with URL identity, because the spider names the topic of its feed-export
    records too and may not import the archive's storage."""
    segments = [segment for segment in urlsplit(url).path.split("/") if segment]
    return unquote(segments[-1]) if segments else urlsplit(url).netloc
