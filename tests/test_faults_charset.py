"""Decoding pages whose charset label lies (crawler.charset), byte for byte.

The matrix rows ``wrong-charset-*`` and ``invalid-bytes`` crawl such pages end to end;
these pin the decision rules themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from topicwatch.archive.text import is_mojibake_of
from topicwatch.crawler.charset import decode_page
from topicwatch.crawler.text import decode_cp932

TEXT = "<p>NATO事務総長が北極圏で「北極セントリー」開始を表明、①髙島屋～</p>"


@pytest.mark.parametrize(
    ("codec", "label"),
    [
        ("utf-8", "shift_jis"),  # UTF-8 labelled Shift_JIS: the bytes win
        ("cp932", "utf-8"),  # Shift_JIS (Windows-31J) labelled UTF-8
        ("euc_jp", "utf-8"),  # EUC-JP labelled UTF-8
        ("cp932", "shift_jis"),  # honest labels are simply obeyed
        ("euc_jp", "euc_jp"),
    ],
)
def test_a_page_decodes_by_its_bytes_when_the_label_lies(codec, label):
    text = TEXT.replace("①髙島屋～", "") if codec == "euc_jp" else TEXT
    body = text.encode(codec)
    wrong = body.decode(label if label != "shift_jis" else "cp932", errors="replace")
    assert decode_page(body, label, wrong) == (text, False)


def test_undecodable_bytes_are_replaced_and_flagged():
    body = TEXT.encode("utf-8").replace("北極圏".encode(), b"\xff\xfe\xfd")
    text, lossy = decode_page(body, "utf-8", body.decode("utf-8", errors="replace"))
    assert lossy and "\ufffd" in text and "NATO事務総長" in text


def test_a_western_page_is_never_rescued_as_japanese():
    body = "<p>Caf\u00e9 \u2013 na\u00efve</p>".encode("cp1252") + b"\x81"
    fallback = body.decode("cp1252", errors="replace")
    assert decode_page(body, "cp1252", fallback) == (fallback, True)


LISTINGS = sorted((Path(__file__).parent / "fixtures" / "listings").glob("*.html"))
STRAY = [b"\xff", b"\x80", b"\xe3\x81", b"\xc0\xaf"]  # bad byte, lone continuation, cut, overlong


def spoil(body: bytes, count: int) -> bytes:
    """``count`` invalid byte sequences spread over ``body``: in a comment, in text, at the end."""
    step = len(body) // (count + 1)
    cuts = [body.rfind(b">", 0, step * (n + 1)) + 1 for n in range(count)]
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    spoiled = b"".join(p + STRAY[n % len(STRAY)] for n, p in enumerate(pieces[:-1]))
    return b"<!-- \xff -->" + spoiled + pieces[-1]


@pytest.mark.parametrize("page", LISTINGS, ids=lambda path: path.stem)
@pytest.mark.parametrize(("label", "count"), [("shift_jis", 1), ("euc_jp", 3), ("cp932", 12)])
def test_a_few_bad_bytes_in_utf8_beat_a_clean_looking_legacy_reading(page, label, count):
    """Item 9: the label and the legacy decoders are wrong; the bytes are UTF-8."""
    body = spoil(page.read_bytes(), count)
    legacy = body.decode("cp932" if label == "shift_jis" else label, errors="replace")
    text, lossy = decode_page(body, label, legacy)
    assert (text, lossy) == (body.decode("utf-8", errors="replace"), True)


@pytest.mark.parametrize("page", LISTINGS, ids=lambda path: path.stem)
@pytest.mark.parametrize("codec", ["cp932", "euc_jp"])
def test_legacy_pages_with_bad_bytes_are_never_read_as_utf8(page, codec):
    body = page.read_text(encoding="utf-8").encode(codec, errors="replace") + b"\x81\x7f"
    fallback = body.decode(codec, errors="replace")
    text, lossy = decode_page(body, codec, fallback)
    assert lossy and text == fallback


# Issue 12, second attack: labels that lie in other ways. The decoding is chosen by
# scoring every candidate, so each of these is the same rule, not a case of its own.
@pytest.mark.parametrize("page", LISTINGS[:4], ids=lambda path: path.stem)
@pytest.mark.parametrize(
    ("codec", "label"),
    [
        ("euc_jp", "windows-1252"),  # Japanese bytes read as Latin-1 decode "cleanly"
        ("cp932", "iso-8859-1"),
        ("cp932", "windows-1252"),
        ("euc_jp", "shift_jis"),
        ("cp932", "euc_jp"),
    ],
)
def test_a_clean_looking_wrong_reading_loses_to_the_sensible_one(page, codec, label):
    text = page.read_text(encoding="utf-8")
    body = text.encode(codec, errors="xmlcharrefreplace")
    wrong = body.decode("cp932" if label == "shift_jis" else label, errors="replace")
    assert decode_page(body, label, wrong) == (body.decode(codec), False)


@pytest.mark.parametrize("page", LISTINGS[:4], ids=lambda path: path.stem)
@pytest.mark.parametrize("codec", ["euc_jp", "cp932"])
def test_a_legacy_page_with_stray_bytes_labelled_utf8_reads_as_legacy(page, codec):
    body = spoil(page.read_text(encoding="utf-8").encode(codec, errors="xmlcharrefreplace"), 3)
    text, lossy = decode_page(body, "utf-8", body.decode("utf-8", errors="replace"))
    legacy = decode_cp932(body) if codec == "cp932" else body.decode(codec, errors="replace")
    assert text == legacy and lossy and text.count("\ufffd") <= 7  # the stray bytes only


def test_a_short_utf8_page_with_one_bad_byte_is_not_read_as_shift_jis():
    """Too short for a count of sequences to decide: 蛹玲･ｵ (half-width kana, rare kanji)
    scores below 北極 with one unreadable byte."""
    body = "<h2>北極</h2><p>合意</p>".encode().replace(b"<p>", b"<p>\xff")
    text, lossy = decode_page(body, "shift_jis", body.decode("cp932", errors="replace"))
    assert (text, lossy) == (body.decode("utf-8", errors="replace"), True)


@pytest.mark.parametrize(
    "western",
    [
        "It’s Trump’s plan, NATO’s chief says “Trust” and don’t – wait.",
        "L’été de l’année: «Ça va», dit-il à l’hôtel; élection présidentielle.",
        "Größe Übung: Müller sagt über die Brücke.",
    ],
)
def test_western_pages_keep_their_label(western):
    """Curly quotes read as Shift_JIS give common kanji (’s), but never kana."""
    body = western.encode("cp1252")
    assert decode_page(body, "windows-1252", body.decode("cp1252")) == (western, False)


@pytest.mark.parametrize(("wrong", "right"), [("cp1252", "euc_jp"), ("latin-1", "cp932"),
                                              ("cp932", "euc_jp")])  # fmt: skip
def test_legacy_mojibake_is_recognised_as_no_edit(wrong, right):
    original = "北大西洋条約機構の加盟国は、防衛費の増額で合意した。"
    assert is_mojibake_of(original.encode(right).decode(wrong), original)
    assert not is_mojibake_of(original.replace("合意", "決裂"), original)


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("北约秘书长宣布在北极启动新的监视任务，各成员国同意增加国防开支。" * 4, "gbk"),
        ("北約秘書長宣布在北極啟動新的監視任務，各成員國同意增加國防開支。" * 4, "big5"),
        ("나토 사무총장은 북극에서 새로운 감시 임무를 시작한다고 발표했다." * 4, "euc-kr"),
    ],
)
def test_other_honest_labels_that_read_cleanly_are_trusted(text, codec):
    """The scoring knows Japanese: a Chinese or Korean page is never 'rescued' into it."""
    body = text.encode(codec)
    assert decode_page(body, codec, body.decode(codec)) == (text, False)
