"""topicwatch's crawler: the Scrapy project (spiders, items, pipelines, middlewares,
extensions, settings and the extraction they use).

Kept free of imports: the daemon names :data:`EXTRACTOR_VERSION` without loading lxml.
"""

# Bump when a change to extraction (crawler.extract) can change what is read from the same
# page: each item version records it, and `topicwatch reparse` re-reads snapshots with the
# new one. Kept here, not in crawler.extract, so the daemon can name it without lxml.
# 2: nested cards split, C0 controls blanked (2026-11-29)
# 3: volatile edge fragments dropped, fields capped, unreadable dates dropped, lone
#    surrogates dropped, mostly-UTF-8 pages read as UTF-8, a sidebar or widget list never
#    taken for the topic's (issue 12)
# 4: volatile fragments known by shape and in any width (1,234回再生, ＮＥＷ！, Updated 3
#    hours ago, 【PR】, ★NEW★, 速報：), furigana (<rt>) and hidden text dropped, dates
#    in full-width digits and English read, JSON-LD items of non-article types and junk
#    values dropped, mislabelled charsets decided by scoring the candidate decodings
#    (issue 12)
# 5: full-width spaces (U+3000) and no-break spaces kept as published; only HTML
#    whitespace is folded ("What a new user hits")
EXTRACTOR_VERSION = "5"
