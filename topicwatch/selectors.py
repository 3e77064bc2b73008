"""CSS selectors from the operator, checked when given rather than when a page is parsed.

The extractor applies a topic's selectors with lxml's ``cssselect()``, which translates
them with cssselect's HTML translator. An invalid selector used to raise there, on every
run whose page had changed — and a site answering 304 hid it for days. The same
translator checks it at load (config) and on the command line (``--selectors``).
cssselect parses recursively: a selector nested a few thousand deep (``:is(:is(…``)
raised RecursionError past every check (and one that passes here may still recurse too
deep in a crawl, whose stack is deeper), so selectors are capped in length and nesting
(real ones are a few dozen characters, two or three levels deep). Messages
quote at most the start of a selector: the error stays one readable line.
Pure Python: the daemon can check its config without importing lxml or Scrapy.
"""

from __future__ import annotations

from cssselect import HTMLTranslator, SelectorError

MAX_SELECTOR_CHARS = 1000
MAX_NESTING = 16  # brackets and parentheses inside one another
_SHOWN_CHARS = 60
_TRANSLATOR = HTMLTranslator()


def check_selector(selector: str) -> None:
    """ValueError (one line, cssselect's reason) unless lxml's cssselect() accepts it."""
    if len(selector) > MAX_SELECTOR_CHARS:
        raise ValueError(
            f"not a usable CSS selector: {_shown(selector)} ({len(selector):,} characters;"
            f" at most {MAX_SELECTOR_CHARS:,})"
        )
    if _nesting(selector) > MAX_NESTING:
        raise ValueError(
            f"not a usable CSS selector: {_shown(selector)} (nested too deeply: at most"
            f" {MAX_NESTING} levels)"
        )
    try:
        _TRANSLATOR.css_to_xpath(selector)
    except SelectorError as error:
        reason = " ".join(str(error).split())[:200]
        raise ValueError(f"not a usable CSS selector: {_shown(selector)} ({reason})") from None
    except RecursionError:
        raise ValueError(
            f"not a usable CSS selector: {_shown(selector)} (nested too deeply)"
        ) from None


def _nesting(selector: str) -> int:
    """How deep brackets and parentheses go (quotes are not told apart: a selector quoting
    16 opening brackets is refused too, which no real one does)."""
    depth = deepest = 0
    for char in selector:
        if char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth = max(0, depth - 1)
    return deepest


def _shown(selector: str) -> str:
    if len(selector) <= _SHOWN_CHARS:
        return repr(selector)
    return repr(selector[:_SHOWN_CHARS]) + "…"
