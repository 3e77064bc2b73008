"""Japanese headlines and summaries for the synthetic search archive, made ahead of need.

Headlines run ~40 characters and summaries ~120, from a Zipf-distributed vocabulary:
the topic words (英国, 北極, NATO, ウクライナ) occur in a third or more of the texts, ~4,000
two-kanji compounds make the long tail, one of ~100k made-up names appears in most texts,
a few words have a known low frequency (:data:`UNCOMMON`), and now and then Latin words
come in full width (ＮＡＴＯ), as Japanese pages mix them. Particles are drawn apart from
the words, so a two-character word is followed by many different characters.

:class:`TextStream` makes each run's texts on a thread: the store spends most of a run
inside SQLite, which releases the GIL, so texts cost almost no wall time.
"""

from __future__ import annotations

import itertools
import queue
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

_TOPIC_WORDS = """
英国 北極 NATO ウクライナ ロシア 米国 首相 大統領 防衛 会談 支援
政府 国防相 欧州 中国 日本 外相 協議 演習 同盟 加盟国 制裁 停戦 交渉
安全保障 軍事 部隊 派遣 首脳会議 声明 発表 懸念 強化 方針 計画 予算
国防費 経済 ミサイル ドローン 北極圏 グリーンランド ルッテ事務総長 議会
選挙 野党 与党 労働党 保守党 ロンドン ブリュッセル ワシントン モスクワ
キーウ 北京 東京 国連 EU G7 AI サイバー攻撃 偽情報 エネルギー
天然ガス 原油 物価 気候変動 海氷 航路 資源 監視 抑止力 核 兵器 戦闘機
艦艇 潜水艦 空軍 陸軍 海軍 基地 国境 難民 移民 首都 市民 記者会見
報告書 調査 専門家 分析 見通し 影響 対応 懸案 合意 署名 条約 拡大
加盟 撤退 侵攻 反撃 攻撃 被害 死者 負傷者 住民 避難 インフラ 電力
鉄道 港湾 輸出 輸入 関税 通商 投資 企業 市場 株価 金利 中央銀行
財務相 首脳 国王 王室 英首相 スターマー トランプ ゼレンスキー プーチン
マクロン メルツ 石破 高市 北欧 フィンランド スウェーデン ノルウェー
デンマーク アイスランド カナダ バルト三国 ポーランド ドイツ フランス
"""
COMMON = _TOPIC_WORDS.split()
# Kanji that form the rest of the vocabulary, two at a time (Zipf-distributed with COMMON).
KANJI = """政府国家経済社会市場企業技術産業金融財政外交安全軍事防衛地域国際関係協力対策問題課題
改革制度法律規制環境資源電力燃料輸送物流港湾空港鉄道道路建設住宅都市農業漁業食料医療福祉教育研究
大学学生労働雇用賃金物価通貨為替株式債券銀行保険投資貿易関税輸出輸入条約会議首脳代表議員選挙投票
世論報道記者情報通信宇宙海洋気候温暖化災害地震台風洪水火山事故事件裁判警察検察容疑逮捕起訴判決"""
KANJI = KANJI.replace("\n", "")
VOCABULARY = 5000
PARTICLES = ["は", "が", "を", "に", "の", "で", "と", "も", "へ", "から", "まで"]
VERBS = ["表明", "検討", "協議", "発表", "確認", "要請", "批判", "支持", "強化", "開始",
         "決定", "承認", "警告", "合意", "拒否", "延期", "再開", "調整"]  # fmt: skip
SYLLABLES = list(
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
)
RARE_SUFFIXES = ["", "氏", "社", "島", "基地", "作戦", "会議"]
# Words of known, low frequency (share of texts), for rare 1-3 character queries.
UNCOMMON = [("砕氷船", 0.004), ("捕鯨", 0.0002), ("AUKUS", 0.002), ("鱈", 0.0001)]
WIDE = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


class Texts:
    """Deterministic headline/summary text, and edits of it."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        names = random.Random(seed + 1)
        compounds = {"".join(names.choices(KANJI, k=2)) for _ in range(VOCABULARY)}
        tail = sorted(compounds - set(COMMON))
        names.shuffle(tail)  # which compounds are the frequent ones
        self.vocabulary = COMMON + tail
        weights = [1 / (rank + 10) for rank in range(len(self.vocabulary))]
        self.cumulative = list(itertools.accumulate(weights))
        self.rare = [
            "".join(names.choices(SYLLABLES, k=names.randint(3, 5))) + names.choice(RARE_SUFFIXES)
            for _ in range(100_000)
        ]

    def word(self) -> str:
        return self.words(1)[0]

    def words(self, count: int) -> list[str]:
        words = self.random.choices(self.vocabulary, cum_weights=self.cumulative, k=count)
        if self.random.random() < 0.03:  # now and then Latin words in full width
            words = [w.translate(WIDE) if w.isascii() else w for w in words]
        return words

    def phrase(self, length: int, rare: bool) -> str:
        """Words with particles, about ``length`` characters, maybe with a rare name."""
        parts = [self.random.choice(self.rare)] if rare else []
        parts += [word + "の" for word, share in UNCOMMON if self.random.random() < share]
        size = sum(map(len, parts))
        particles = self.random.choices(PARTICLES, k=12)
        for word, particle in zip(self.words(12), particles, strict=True):
            if size >= length:
                break
            parts.append(word + particle)
            size += len(parts[-1])
        self.random.shuffle(parts)
        return "".join(parts)

    def headline(self) -> str:
        return (
            self.phrase(28, self.random.random() < 0.5)
            + "、"
            + self.word()
            + "を"
            + (self.random.choice(VERBS))
        )

    def summary(self) -> str:
        sentences = [
            self.phrase(34, i == 0) + self.random.choice(VERBS) + "した。" for i in range(3)
        ]
        return "".join(sentences)

    def rewrite(self) -> Rewrite:
        tail = self.phrase(30, False) + self.random.choice(VERBS) + "した。"
        return Rewrite(self.random.random(), self.headline(), tail)


@dataclass(frozen=True)
class Rewrite:
    """An edit, to apply to whatever the text is by then: a new headline (or a 【続報】
    one), a summary's last sentences rewritten, or both."""

    roll: float
    headline: str
    tail: str

    def apply(self, headline: str, summary: str) -> tuple[str, str]:
        if self.roll < 0.4:
            headline = self.headline
        elif self.roll < 0.6:
            headline = "【続報】" + self.headline[:36]
        if self.roll >= 0.3:
            summary = summary[:80] + self.tail
        return headline, summary


@dataclass(frozen=True)
class RunTexts:
    """One run's texts: (headline, summary) per new article, and rewrites for edits."""

    fresh: list[tuple[str, str]]
    rewrites: list[Rewrite]


class TextStream:
    """Each run's texts, in order, made on a thread a few runs ahead."""

    def __init__(self, seed: int, plan: Sequence[tuple[int, int]]) -> None:
        self.queue: queue.Queue[RunTexts | BaseException] = queue.Queue(maxsize=8)
        thread = threading.Thread(target=self._make, args=(seed, plan), daemon=True)
        thread.start()

    def _make(self, seed: int, plan: Sequence[tuple[int, int]]) -> None:
        try:
            texts = Texts(seed)
            for new, edits in plan:
                fresh = [(texts.headline(), texts.summary()) for _ in range(new)]
                self.queue.put(RunTexts(fresh, [texts.rewrite() for _ in range(edits)]))
        except BaseException as error:  # handed to the consumer, which raises it
            self.queue.put(error)

    def next(self) -> RunTexts:
        texts = self.queue.get()
        if isinstance(texts, BaseException):
            raise texts
        return texts
