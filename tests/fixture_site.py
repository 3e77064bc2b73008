"""A local stand-in for novaist.jp, served on 127.0.0.1 for end-to-end tests.

Tests must never reach the real site, yet the spider has to meet markup that looks like the
real thing: a WordPress-like theme with a lead block that repeats the newest article, cards
that carry the summary (and maybe not the headline), links with and without trailing slashes,
pagination, validators for conditional GET and the odd failing response. This module builds
all of that from the seed articles with the standard library only, so it runs anywhere.

It is longer than our usual ~300-line module: the server and the page templates are one
fixture, and splitting them would only spread one fake website over several files.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import math
import re
import socket
import sys
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

SEED_PATH = Path(__file__).parent / "fixtures" / "seed_articles.json"
CAPTION = "※記事を視覚化したイメージであり、実際の事象とは異なります。"
ROBOTS_TXT = "User-agent: *\nDisallow: /wp-admin/\n"
HTML_TYPE = "text/html; charset=UTF-8"

_JST = timezone(timedelta(hours=9))
# Validators start at the seed's newest article and move one minute on per change, so every
# mutation yields a strictly later Last-Modified even within the same wall-clock second.
_BASE_MODIFIED = datetime(2026, 2, 13, 1, 20, tzinfo=UTC)
_DISPLAY_NAMES = {"nato": "NATO"}
# shutdown() waits for serve_forever's next poll: the default 0.5 s would cost every test that.
_POLL_INTERVAL = 0.01
# The AI disclaimer's wording changed in early February 2026; the spider must ignore both.
_DISCLAIMER_CHANGED = "2026-02-05"
_OLD_DISCLAIMER = "本記事は、公開されている情報をもとにAIが作成したものです。"
_NEW_DISCLAIMER = (
    "この記事は、報道機関などが公開した情報をもとに生成AIを用いて作成しています。"
    "正確な内容は各報道の原文をご確認ください。"
)


@dataclass
class Article:
    """One post as the site knows it; mutable so tests can edit it in place."""

    slug: str
    headline: str
    summary: str
    published_at: str
    tags: list[str] = field(default_factory=list)


@dataclass
class RequestRecord:
    """What the site saw, so tests can assert on the crawler's behaviour (validators, hits)."""

    method: str
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class _Response:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class _Failure:
    response: _Response
    remaining: int | None  # None: fail until clear_overrides()


# --------------------------------------------------------------------------- articles


def load_seed_articles() -> list[Article]:
    """Return fresh copies of the 20 seed articles, newest first, so tests never share state."""
    records = json.loads(SEED_PATH.read_text(encoding="utf-8"))
    return [Article(**record) for record in records]


_PLACES = ("バルト海", "北極圏", "黒海", "グリーンランド", "東欧", "地中海", "北大西洋")
_ACTORS = ("NATO事務総長", "英国防相", "ドイツ政府", "米国務省", "フランス大統領府")
_SUBJECTS = (
    "防空網の強化",
    "共同演習の拡大",
    "弾薬の共同調達",
    "監視任務の延長",
    "部隊の前方展開",
    "サイバー防衛協力",
)


def make_articles(count: int, start: int = 1, day: str = "2026-02-14") -> list[Article]:
    """Make deterministic later arrivals `later-arrival-<n>`, highest (newest) n first.

    Times grow with n, so a second batch with a higher `start` is newer than the first, as
    new posts on the real site are.
    """
    base = datetime.fromisoformat(day).replace(hour=6, tzinfo=_JST)
    return [_synthetic_article(n, base) for n in range(start + count - 1, start - 1, -1)]


def _synthetic_article(n: int, base: datetime) -> Article:
    when = base + timedelta(minutes=17 * n)
    place = _PLACES[n % len(_PLACES)]
    actor = _ACTORS[n % len(_ACTORS)]
    subject = _SUBJECTS[n % len(_SUBJECTS)]
    headline = f"{actor}が{place}で{subject}へ(続報{n})"
    summary = _fit_summary(
        f"{when.month}月{when.day}日、{actor}は{place}を巡る{subject}について方針を示し、"
        f"NATO加盟国と協議を続ける考えを明らかにした。続報{n}件目となる今回の発表では、"
        "即応態勢や防衛費の分担、装備の共同調達の具体策が議論され、"
        "欧州各国の反応や今後の交渉日程にも関心が集まる。"
    )
    return Article(f"later-arrival-{n}", headline, summary, when.isoformat(), ["NATO", place])


def _fit_summary(text: str, low: int = 120, high: int = 140) -> str:
    """Keep synthetic summaries within the 121-139 character range seen on the real site."""
    while len(text) < low:
        text += "関係国の動向が注目される。"
    return text if len(text) <= high else text[: high - 1] + "。"


# --------------------------------------------------------------------------- URLs


def tag_slug(tag: str) -> str:
    """WordPress form of a tag slug: ASCII kept, UTF-8 percent-encoded in lower case."""
    quoted = quote(unquote(tag), safe="-_")
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted)


def _listing_path(tag: str, page: int = 1) -> str:
    base = f"/articles/tag/{tag_slug(tag)}/"
    return base if page == 1 else f"{base}page/{page}/"


def _display_name(tag: str) -> str:
    return _DISPLAY_NAMES.get(tag, unquote(tag))


# --------------------------------------------------------------------------- page parts

_esc = html.escape

_CATEGORIES = (
    ("world", "ワールド"),
    ("politics", "政治"),
    ("economy", "経済"),
    ("technology", "テクノロジー"),
    ("society", "社会"),
)
_CLOUD_TAGS = ("NATO", "英国", "ウクライナ", "グリーンランド", "トランプ政権", "北極圏")
_POPULAR = (
    "円相場が一時急伸、日銀の追加利上げ観測で市場に動揺広がる",
    "欧州議会がAI規制の運用指針を採択、生成AI事業者に新たな義務",
    "中国の輸出管理強化でレアアース価格が高騰、日本企業に影響",
    "米連邦準備制度理事会が政策金利を据え置き、年内利下げは不透明",
    "インド太平洋の海洋安全保障で日米豪比が共同声明を発表",
)


def _document(head: str, body_class: str, main: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="ja">\n<head>\n'
        f'{head}\n</head>\n<body class="{body_class}">\n{_site_header()}\n'
        f'<div class="l-container">\n{main}\n{_sidebar()}\n</div>\n'
        f"{_footer()}\n{_scripts()}\n</body>\n</html>\n"
    )


def _common_head(title: str, canonical: str) -> str:
    return (
        '<meta charset="UTF-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n"
        f'<link rel="canonical" href="{_esc(canonical)}">\n'
        '<link rel="stylesheet" href="/wp-content/themes/novaist/style.css?ver=2.4.1">\n'
        '<link rel="alternate" type="application/rss+xml" title="novaist" href="/feed/">'
    )


def _site_header() -> str:
    links = "".join(
        f'<li class="global-nav__item"><a href="/articles/category/{slug}/">{name}</a></li>'
        for slug, name in _CATEGORIES
    )
    return (
        '<header class="l-header">\n<div class="l-header__inner">\n'
        '<a class="l-header__logo" href="/"><img src="/img/logo.svg" alt="novaist"></a>\n'
        '<button class="l-header__menu" type="button" aria-label="メニュー">≡</button>\n'
        f'<nav class="global-nav"><ul class="global-nav__list">{links}</ul></nav>\n'
        "</div>\n</header>"
    )


def _breadcrumb(label: str) -> str:
    return (
        '<nav class="breadcrumb" aria-label="パンくずリスト"><ol>'
        '<li><a href="/">ホーム</a></li>'
        f'<li aria-current="page">{_esc(label)}</li></ol></nav>'
    )


def _sidebar() -> str:
    ranking = "".join(
        f'<li><a href="/articles/popular-{k}/">{_esc(title)}</a></li>'
        for k, title in enumerate(_POPULAR, start=1)
    )
    cloud = "".join(
        f'<a class="tag-cloud-link" href="{_listing_path(name.lower())}">{_esc(name)}</a>'
        for name in _CLOUD_TAGS
    )
    return (
        '<aside class="l-sidebar">\n'
        '<section class="widget widget-ranking"><h2 class="widget-title">人気記事</h2>'
        f"<ul>{ranking}</ul></section>\n"
        '<section class="widget widget_tag_cloud"><h2 class="widget-title">タグ</h2>'
        f'<div class="tagcloud">{cloud}</div></section>\n'
        "</aside>"
    )


def _footer() -> str:
    return (
        '<footer class="l-footer">\n<ul class="l-footer__links">'
        '<li><a href="/about/">novaistについて</a></li>'
        '<li><a href="/privacy/">プライバシーポリシー</a></li>'
        '<li><a href="/contact/">お問い合わせ</a></li></ul>\n'
        '<p class="l-footer__copyright"><small>&copy; 2026 novaist All Rights Reserved.'
        "</small></p>\n</footer>"
    )


def _scripts() -> str:
    # Strings that look like markup inside JS check that extraction ignores script text.
    return (
        '<script id="novaist-js-extra">\n'
        'var novaistVars = {"ajaxUrl":"\\/wp-admin\\/admin-ajax.php","lazy":true};\n'
        "document.addEventListener('DOMContentLoaded', function () {\n"
        "  var menu = document.querySelector('.l-header__menu');\n"
        "  if (menu) { menu.addEventListener('click', function () {\n"
        "    document.body.classList.toggle('is-menu-open');\n  }); }\n"
        '  var note = \'<a class="p-card__link" href="/articles/not-a-card/">x</a>\';\n'
        "});\n</script>"
    )


def _share_block(url: str, title: str) -> str:
    target = quote(url, safe="")
    text = quote(title, safe="")
    return (
        '<div class="p-share"><span class="p-share__label">SHARE</span>'
        f'<a class="p-share__x" href="https://twitter.com/intent/tweet?url={target}'
        f'&amp;text={text}" rel="nofollow noopener" target="_blank">X</a>'
        f'<a class="p-share__fb" href="https://www.facebook.com/sharer/sharer.php?u={target}"'
        ' rel="nofollow noopener" target="_blank">Facebook</a>'
        f'<a class="p-share__line" href="https://social-plugins.line.me/lineit/share?url='
        f'{target}" rel="nofollow noopener" target="_blank">LINE</a></div>'
    )


def _display_date(published_at: str) -> str:
    return published_at[:10].replace("-", ".")


# --------------------------------------------------------------------------- listing page


@dataclass(frozen=True)
class _ListingView:
    """Everything a listing page shows, taken under the lock so rendering sees one state."""

    base_url: str
    tag: str
    articles: list[Article]
    page: int
    pages: int
    headline_in_listing: bool


def render_listing(view: _ListingView) -> str:
    """Render one page of a tag listing in the novaist theme."""
    name = _display_name(view.tag)
    parts = [_breadcrumb(name)]
    if view.page == 1 and view.articles:
        parts.append(_lead(view.articles[0]))
    parts += [_archive_heading(name), _card_list(view), _pagination(view)]
    parts.append(_share_block(view.base_url + _listing_path(view.tag, view.page), name))
    main = '<main class="l-main">\n' + "\n".join(parts) + "\n</main>"
    body_class = f"archive tag tag-{_esc(tag_slug(view.tag))}"
    return _document(_listing_head(view, name), body_class, main)


def _listing_head(view: _ListingView, name: str) -> str:
    canonical = view.base_url + _listing_path(view.tag, view.page)
    links = [_common_head(f"{name} | novaist", canonical)]
    if view.page > 1:
        links.append(_rel_link("prev", view.base_url + _listing_path(view.tag, view.page - 1)))
    if view.page < view.pages:
        links.append(_rel_link("next", view.base_url + _listing_path(view.tag, view.page + 1)))
    return "\n".join(links)


def _rel_link(rel: str, href: str) -> str:
    return f'<link rel="{rel}" href="{_esc(href)}">'


def _lead(article: Article) -> str:
    # The lead links without a trailing slash, unlike the cards: spiders must normalise.
    headline, slug = _esc(article.headline), _esc(article.slug)
    return (
        f'<section class="p-lead"><a class="p-lead__link" href="/articles/{slug}">'
        f'<figure class="p-lead__thumb"><img src="/img/{slug}.jpg" alt="{headline}"></figure>'
        f'<h2 class="p-lead__title">{headline}</h2>'
        f'<p class="p-lead__excerpt">{_esc(article.summary)}</p></a></section>'
    )


def _archive_heading(name: str) -> str:
    return (
        f'<header class="p-archive__header"><h1 class="p-archive__title">{_esc(name)}</h1>\n'
        f'<p class="p-archive__desc">本ページでは「{_esc(name)}」をテーマとした記事を'
        "一覧で掲載しています。</p></header>"
    )


def _card_list(view: _ListingView) -> str:
    cards = "\n".join(_card(a, view.headline_in_listing) for a in view.articles)
    return (
        '<section class="p-topic-list">\n<div class="p-topic-list__items">\n'
        f"{cards}\n</div>\n</section>"
    )


def _card(article: Article, with_title: bool) -> str:
    headline, slug = _esc(article.headline), _esc(article.slug)
    title = f'<h3 class="p-card__title">{headline}</h3>' if with_title else ""
    return (
        f'<article class="p-card"><a class="p-card__link" href="/articles/{slug}/">'
        f'<figure class="p-card__thumb"><img src="/img/{slug}.jpg" alt="{headline}"></figure>'
        f'<div class="p-card__body">{title}<p class="p-card__excerpt">{_esc(article.summary)}'
        f'</p><time class="p-card__date" datetime="{_esc(article.published_at)}">'
        f"{_display_date(article.published_at)}</time></div></a></article>"
    )


def _pagination(view: _ListingView) -> str:
    if view.pages <= 1:
        return ""
    items = []
    if view.page > 1:
        items.append(_page_link(view.tag, view.page - 1, "前へ", "prev page-numbers"))
    items += [_page_number(view, n) for n in _visible_pages(view.page, view.pages)]
    if view.page < view.pages:
        items.append(_page_link(view.tag, view.page + 1, "次へ", "next page-numbers"))
    return '<nav class="pagination" aria-label="ページ送り">' + "\n".join(items) + "</nav>"


def _visible_pages(page: int, pages: int) -> list[int | None]:
    """WordPress's paginate_links shape: first, last and neighbours, None for a gap."""
    wanted = sorted({1, pages, page - 1, page, page + 1} & set(range(1, pages + 1)))
    shown: list[int | None] = []
    for n in wanted:
        if shown and n - (shown[-1] or 0) > 1:
            shown.append(None)
        shown.append(n)
    return shown


def _page_number(view: _ListingView, n: int | None) -> str:
    if n is None:
        return '<span class="page-numbers dots">&hellip;</span>'
    if n == view.page:
        return f'<span aria-current="page" class="page-numbers current">{n}</span>'
    return _page_link(view.tag, n, str(n), "page-numbers")


def _page_link(tag: str, page: int, label: str, css: str) -> str:
    return f'<a class="{css}" href="{_listing_path(tag, page)}">{label}</a>'


# --------------------------------------------------------------------------- article page


def render_article(base_url: str, article: Article) -> str:
    """Render an article page: title, eyecatch caption, AI disclaimer, then the body."""
    canonical = f"{base_url}/articles/{article.slug}/"
    main = (
        '<main class="l-main">\n'
        f"{_breadcrumb(article.headline)}\n"
        '<article class="p-entry">\n'
        f'<h1 class="entry-title">{_esc(article.headline)}</h1>\n'
        f"{_eyecatch(article)}\n"
        f'<p class="p-entry__disclaimer">{_disclaimer(article.published_at)}</p>\n'
        f'<div class="entry-content">\n{_article_body(article.summary)}\n</div>\n'
        f"{_share_block(canonical, article.headline)}\n"
        "</article>\n</main>"
    )
    return _document(_article_head(canonical, article), "single single-post", main)


def _article_head(canonical: str, article: Article) -> str:
    tags = "\n".join(f'<meta property="article:tag" content="{_esc(tag)}">' for tag in article.tags)
    return (
        f"{_common_head(f'{article.headline} | novaist', canonical)}\n"
        '<meta property="og:type" content="article">\n'
        f'<meta property="og:title" content="{_esc(article.headline)}">\n'
        f'<meta property="og:image" content="/img/{_esc(article.slug)}.jpg">\n'
        f'<meta property="article:published_time" content="{_esc(article.published_at)}">\n'
        f"{tags}"
    )


def _eyecatch(article: Article) -> str:
    return (
        f'<figure class="p-entry__eyecatch"><img src="/img/{_esc(article.slug)}.jpg" '
        f'alt="{_esc(article.headline)}"><figcaption>{CAPTION}</figcaption></figure>'
    )


def _disclaimer(published_at: str) -> str:
    return _OLD_DISCLAIMER if published_at[:10] < _DISCLAIMER_CHANGED else _NEW_DISCLAIMER


def _article_body(summary: str) -> str:
    """Body paragraphs from the summary's sentences, under short subheadings like the site's."""
    sentences = [s + "。" for s in summary.split("。") if s]
    first, rest = sentences[:1], sentences[1:]
    parts = ['<h2 class="wp-block-heading">概要</h2>', *_paragraphs(first)]
    if rest:
        parts += ['<h2 class="wp-block-heading">背景と今後の焦点</h2>', *_paragraphs(rest)]
    return "\n".join(parts)


def _paragraphs(sentences: list[str]) -> list[str]:
    return [f"<p>{_esc(sentence)}</p>" for sentence in sentences]


def render_not_found() -> str:
    """The theme's 404 page; a real HTML page, since WordPress never sends an empty 404."""
    main = (
        '<main class="l-main"><section class="p-404">'
        '<h1 class="p-404__title">ページが見つかりませんでした</h1>'
        "<p>お探しのページは削除されたか、URLが変更された可能性があります。</p>"
        '<p><a href="/">トップページへ戻る</a></p></section></main>'
    )
    head = _common_head("ページが見つかりませんでした | novaist", "/")
    return _document(head, "error404", main)


# --------------------------------------------------------------------------- HTTP plumbing


def _response(status: int, body: bytes, content_type: str = HTML_TYPE) -> _Response:
    headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
    return _Response(status, body, headers)


def _html(status: int, text: str) -> _Response:
    return _response(status, text.encode("utf-8"))


def _not_modified(headers: dict[str, str], etag: str, modified: datetime) -> bool:
    """RFC 9110 order: If-None-Match decides alone when present; else If-Modified-Since."""
    none_match = headers.get("if-none-match")
    if none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in none_match.split(",")}
        return etag in tags or "*" in tags
    since_text = headers.get("if-modified-since")
    if since_text is None:
        return False
    try:
        since = parsedate_to_datetime(since_text)
    except (TypeError, ValueError):
        return False
    return (since if since.tzinfo else since.replace(tzinfo=UTC)) >= modified


_TAG_PAGE = re.compile(r"/articles/tag/(?P<tag>[^/]+)(?:/page/(?P<page>\d+))?/?")
_ARTICLE_PAGE = re.compile(r"/articles/(?P<slug>[^/]+)/?")


class _Server(ThreadingHTTPServer):
    """Knows its site and its open connections, so stop() can cut keep-alive clients."""

    daemon_threads = True

    def __init__(self, site: FixtureSite) -> None:
        self.site = site
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__((site.host, 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-response (timeouts, cancelled crawls) are normal here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Thin adapter: all decisions are made by FixtureSite.respond under its lock."""

    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as Scrapy meets on real sites

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def version_string(self) -> str:
        return "nginx"

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._serve(send_body=True)

    def _serve(self, send_body: bool) -> None:
        headers = dict(self.headers.items())
        response = self.server.site.respond(self.command, self.path, headers)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if send_body and response.status != 304:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: pytest output should show test failures, not an access log."""


# --------------------------------------------------------------------------- the site


class FixtureSite:
    """A thread-safe, mutable fake novaist.jp on an ephemeral 127.0.0.1 port.

    Tests change the site between crawls through the mutators (which also move the
    topic's Last-Modified on) and inspect `requests` to see what the crawler sent.
    Editing `topics` directly works for content but leaves Last-Modified unchanged.
    """

    def __init__(
        self, topics: dict[str, list[Article]] | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.host = host  # another 127.0.0.0/8 address is another site to the crawler
        self._lock = threading.Lock()
        self.topics: dict[str, list[Article]] = (
            {"nato": load_seed_articles()} if topics is None else topics
        )
        self._per_page = 20
        self._headline_in_listing = True
        self.conditional = True
        self.requests: list[RequestRecord] = []
        self._raw: dict[str, _Response] = {}
        self._failures: dict[str, _Failure] = {}
        self._modified: dict[str, datetime] = {}
        self._version = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> FixtureSite:
        """Bind an ephemeral port and serve from a daemon thread (never blocks a test run)."""
        if self._server is not None:
            return self
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name="fixture-site",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every socket, including idle keep-alive connections."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        with server.connections_lock:
            open_connections = list(server.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):  # the client may have closed it already
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FixtureSite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- URLs

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT`; only meaningful once started (the port is ephemeral)."""
        if self._server is None:
            raise RuntimeError("FixtureSite is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def topic_url(self, tag: str = "nato") -> str:
        """Absolute URL of page 1 of a tag listing (Japanese tags are percent-encoded)."""
        return f"{self.base_url}/articles/tag/{tag_slug(tag)}/"

    def article_url(self, slug: str) -> str:
        """Absolute, canonical (trailing-slash) URL of an article page."""
        return f"{self.base_url}/articles/{slug}/"

    # ---- settings that change every listing

    @property
    def per_page(self) -> int:
        """Cards per listing page (20 on the real site)."""
        return self._per_page

    @per_page.setter
    def per_page(self, value: int) -> None:
        if value < 1:
            raise ValueError("per_page must be at least 1")
        with self._lock:
            self._per_page = value
            self._bump_all_topics()

    @property
    def headline_in_listing(self) -> bool:
        """False hides the card title, leaving the headline only in the image alt."""
        return self._headline_in_listing

    @headline_in_listing.setter
    def headline_in_listing(self, value: bool) -> None:
        with self._lock:
            self._headline_in_listing = value
            self._bump_all_topics()

    # ---- mutators

    def add_articles(self, articles: list[Article], tag: str = "nato") -> None:
        """Publish new posts: they go on top of the listing in the order given."""
        with self._lock:
            key = self._topic_key(tag) or tag
            self.topics[key] = list(articles) + self.topics.get(key, [])
            self._bump(f"tag:{key}")
            for article in articles:
                self._bump(f"article:{article.slug}")

    def remove_article(self, slug: str, tag: str = "nato") -> None:
        """Drop a post from one listing; raises KeyError if it is not there."""
        with self._lock:
            key = self._topic_key(tag)
            listing = self.topics.get(key, []) if key else []
            kept = [article for article in listing if article.slug != slug]
            if key is None or len(kept) == len(listing):
                raise KeyError(f"{slug!r} is not listed under {tag!r}")
            self.topics[key] = kept
            self._bump(f"tag:{key}")
            self._bump(f"article:{slug}")

    def edit_article(
        self, slug: str, headline: str | None = None, summary: str | None = None
    ) -> None:
        """Edit a post wherever it is listed; raises KeyError if it is listed nowhere."""
        with self._lock:
            touched = [
                (key, article)
                for key, listing in self.topics.items()
                for article in listing
                if article.slug == slug
            ]
            if not touched:
                raise KeyError(f"no article {slug!r}")
            for key, article in touched:
                article.headline = article.headline if headline is None else headline
                article.summary = article.summary if summary is None else summary
                self._bump(f"tag:{key}")
            self._bump(f"article:{slug}")

    def set_listing(self, tag: str, articles: list[Article]) -> None:
        """Replace a whole listing (creating the tag if new), newest first."""
        with self._lock:
            key = self._topic_key(tag) or tag
            self.topics[key] = list(articles)
            self._bump(f"tag:{key}")

    # ---- overrides

    def serve_raw(
        self, path: str, body: bytes, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        """Serve fixed bytes at exactly `path` (query ignored), e.g. another charset."""
        response = _response(status, body)
        response.headers.update(headers or {})
        with self._lock:
            self._raw[path] = response

    def fail(
        self,
        path: str,
        status: int,
        times: int | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        """Answer the next `times` requests to `path` (None: all) with `status`, then recover."""
        if times is not None and times < 1:
            raise ValueError("times must be None or at least 1")
        response = _response(status, body)
        response.headers.update(headers or {})
        with self._lock:
            self._failures[path] = _Failure(response, times)

    def clear_overrides(self) -> None:
        """Forget every serve_raw() and fail() so generated pages are served again."""
        with self._lock:
            self._raw.clear()
            self._failures.clear()

    # ---- request log

    def hits(self, path: str) -> int:
        """Count requests to exactly `path`, ignoring any query string."""
        with self._lock:
            return sum(1 for r in self.requests if urlsplit(r.path).path == path)

    def clear_log(self) -> None:
        """Empty the request log, e.g. between two crawls of one test."""
        with self._lock:
            self.requests.clear()

    # ---- serving

    def respond(self, method: str, target: str, headers: dict[str, str]) -> _Response:
        """Decide the response to one request and log it; called by the handler threads."""
        lowered = {name.lower(): value for name, value in headers.items()}
        path = urlsplit(target).path
        with self._lock:
            response = self._override(path) or self._generate(path, lowered)
            self.requests.append(RequestRecord(method, target, headers, response.status))
        return response

    def _override(self, path: str) -> _Response | None:
        failure = self._failures.get(path)
        if failure is not None:
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining == 0:
                    del self._failures[path]
            return replace(failure.response, headers=dict(failure.response.headers))
        raw = self._raw.get(path)
        return None if raw is None else replace(raw, headers=dict(raw.headers))

    def _generate(self, path: str, headers: dict[str, str]) -> _Response:
        if path == "/robots.txt":
            robots = _response(200, ROBOTS_TXT.encode(), "text/plain; charset=UTF-8")
            return self._conditional(robots, _BASE_MODIFIED, headers)
        if match := _TAG_PAGE.fullmatch(path):
            return self._listing(match["tag"], int(match["page"] or 1), headers)
        if match := _ARTICLE_PAGE.fullmatch(path):
            return self._article(unquote(match["slug"]), headers)
        return _html(404, render_not_found())

    def _listing(self, tag: str, page: int, headers: dict[str, str]) -> _Response:
        key = self._topic_key(tag)
        if key is None:
            return _html(404, render_not_found())
        listing = self.topics[key]
        pages = max(1, math.ceil(len(listing) / self._per_page))
        if not 1 <= page <= pages:
            return _html(404, render_not_found())
        first = (page - 1) * self._per_page
        view = _ListingView(
            self.base_url,
            key,
            listing[first : first + self._per_page],
            page,
            pages,
            self._headline_in_listing,
        )
        page_response = _html(200, render_listing(view))
        return self._conditional(page_response, self._modified_at(f"tag:{key}"), headers)

    def _article(self, slug: str, headers: dict[str, str]) -> _Response:
        article = self._find_article(slug)
        if article is None:
            return _html(404, render_not_found())
        page = _html(200, render_article(self.base_url, article))
        return self._conditional(page, self._modified_at(f"article:{slug}"), headers)

    def _conditional(
        self, response: _Response, modified: datetime, headers: dict[str, str]
    ) -> _Response:
        if not self.conditional:
            return response
        validators = {
            "ETag": f'"{hashlib.sha1(response.body).hexdigest()}"',
            "Last-Modified": format_datetime(modified, usegmt=True),
        }
        if _not_modified(headers, validators["ETag"], modified):
            return _Response(304, b"", validators)
        response.headers.update(validators)
        return response

    # ---- state helpers (caller holds the lock)

    def _topic_key(self, tag: str) -> str | None:
        wanted = unquote(tag)
        return next((key for key in self.topics if unquote(key) == wanted), None)

    def _find_article(self, slug: str) -> Article | None:
        for listing in self.topics.values():
            for article in listing:
                if article.slug == slug:
                    return article
        return None

    def _bump(self, key: str) -> None:
        self._version += 1
        self._modified[key] = _BASE_MODIFIED + timedelta(minutes=self._version)

    def _bump_all_topics(self) -> None:
        for key in self.topics:
            self._bump(f"tag:{key}")

    def _modified_at(self, key: str) -> datetime:
        return self._modified.get(key, _BASE_MODIFIED)
