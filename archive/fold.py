"""The search form of text: full-width and half-width forms folded, in Python *and* in SQL.

Japanese pages mix ``ＮＡＴＯ`` and ``NATO``, ``ｸﾞﾘｰﾝﾗﾝﾄﾞ`` and ``グリーンランド``; a search
must find both whichever form the analyst types, so the index and the query must hold
the same normal form.

The form is NFKC restricted to the Halfwidth and Fullwidth Forms block (U+FF00–U+FFEF)
plus the ideographic space: a finite table. Other compatibility characters (①, ㈱) are
left as published. Python applies it to indexed text (:mod:`archive.search_index`) and
to queries (:func:`fold`). Schema version 3 indexed with triggers, which may use built-in
SQL only, so the table also compiles to ``replace()`` calls (:func:`fold_sql_stages`);
both forms agree by construction, and a test checks it.

Changing the table needs a migration that rebuilds the index.
"""

from __future__ import annotations

import re
import unicodedata

# Two private-use characters appended to each indexed column, so that every character of
# the text starts a trigram; 1–2 character queries are answered from the index's term list.
SENTINEL = "\ue000\ue000"
# Matches text holding any character the table folds: U+3000 or the U+FF00–U+FFEF block.
FOLDABLE_GLOB = "*[\u3000\uff00-\uffef]*"


def _table() -> tuple[dict[str, str], dict[str, str]]:
    """(pairs, singles): half-width kana + voicing mark composed first, then one-to-one."""
    singles = {}
    for code in (0x3000, *range(0xFF00, 0xFFF0)):
        char = chr(code)
        folded = unicodedata.normalize("NFKC", char)
        if folded != char:
            singles[char] = folded
    marks = [char for char, folded in singles.items() if folded in ("\u3099", "\u309a")]
    pairs = {}
    for base in singles:
        for mark in marks:
            composed = unicodedata.normalize("NFKC", base + mark)
            if len(composed) == 1:
                pairs[base + mark] = composed
    return pairs, singles


PAIRS, SINGLES = _table()
_PAIR_PATTERN = re.compile("|".join(map(re.escape, PAIRS)))
_SINGLE_TABLE = str.maketrans(SINGLES)
# FOLDABLE_GLOB's character class as a regex: most text holds none of the characters the
# table maps, and finding that out is ten times cheaper than a translate.
_FOLDABLE = re.compile(FOLDABLE_GLOB.strip("*"))


def fold(text: str) -> str:
    """Fold full-width and half-width forms (the same result as :func:`fold_sql`)."""
    if _FOLDABLE.search(text) is None:
        return text
    return _PAIR_PATTERN.sub(lambda match: PAIRS[match.group()], text).translate(_SINGLE_TABLE)


def search_key(text: str) -> str:
    """The form queries are matched in: folded and lower-cased, as the trigram index is."""
    return fold(text).lower()


def key_with_offsets(text: str) -> tuple[str, list[tuple[int, int]]]:
    """:func:`search_key` of ``text``, and for each key character its span in ``text``.

    Used to highlight a match found in the key form on the text as published.
    """
    key: list[str] = []
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(text):
        width = 2 if text[index : index + 2] in PAIRS else 1
        for char in search_key(text[index : index + width]):
            key.append(char)
            spans.append((index, index + width))
        index += width
    return "".join(key), spans


def match_key(text: str) -> str:
    """The key of :func:`key_with_offsets` without the offsets, at the cost of one
    :func:`search_key`: lower-casing the whole text equals lower-casing it piece by piece
    except for a capital sigma, whose lower case depends on its neighbours."""
    return key_with_offsets(text)[0] if "\u03a3" in text else search_key(text)


def fold_sql_stages(column: str, per_stage: int = 20) -> list[tuple[str, str]]:
    """(GLOB pattern, expression) pairs that, applied one after another, fold ``column``.

    One expression of all ~250 nested ``replace()`` calls overflows SQLite's parser
    stack (about 30 levels parse), so the triggers apply the table in stages, each an
    ``UPDATE`` of a scratch row (see the search migration in :mod:`archive.schema`),
    guarded by a GLOB that skips the stage when the text holds none of its characters.
    Pairs come first; no replacement yields a character the table maps again, so the
    result equals :func:`fold` (a test checks it on every mapped character).
    """
    replacements = [*PAIRS.items(), *SINGLES.items()]
    stages = []
    for start in range(0, len(replacements), per_stage):
        chunk = replacements[start : start + per_stage]
        sql = column
        for source, target in chunk:
            sql = f"replace({sql}, {sql_literal(source)}, {sql_literal(target)})"
        # Sources are U+3000 or U+FFxx only, never a GLOB metacharacter.
        pattern = "*[" + "".join(sorted({source[0] for source, _ in chunk})) + "]*"
        stages.append((sql_literal(pattern), sql))
    return stages


def sql_literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
