"""CSS selectors from the operator, checked when given rather than when a page is parsed.

The extractor applies a topic's selectors with lxml's ``cssselect()``, which translates
them with cssselect's HTML translator. An invalid selector used to raise there, on every
run whose page had changed — and a site answering 304 hid it for days. The same
translator checks it at load (config) and on the command line (``--selectors``).
Pure Python: the daemon can check its config without importing lxml or Scrapy.
"""

from __future__ import annotations

from cssselect import HTMLTranslator, SelectorError

_TRANSLATOR = HTMLTranslator()


def check_selector(selector: str) -> None:
    """ValueError (one line, cssselect's reason) unless lxml's cssselect() accepts it."""
    try:
        _TRANSLATOR.css_to_xpath(selector)
    except SelectorError as error:
        reason = " ".join(str(error).split())
        raise ValueError(f"not a usable CSS selector: {selector!r} ({reason})") from None
