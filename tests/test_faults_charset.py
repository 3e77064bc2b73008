"""Decoding pages whose charset label lies (crawler.charset), byte for byte.

The matrix rows ``wrong-charset-*`` and ``invalid-bytes`` crawl such pages end to end;
these pin the decision rules themselves.
"""

from __future__ import annotations

import pytest

from crawler.charset import decode_page

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
