"""The RE2 patterns of `model_text` remove exactly what the Python `re` patterns they replaced removed.

The oracle is the former Python-`re` text builder (`python_re_model_text.py`), on texts short enough for its
backtracking. Compared: texts generated from every pattern's parts (hypothesis, a fixed derandomised budget),
Python's `\\w`/`\\s` against the RE2 classes on every code point, the case-insensitive letters, and, where the
shared data sets are present, their texts.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproc.ingest import model_text as engine
from tests.streamproc.ingest import python_re_model_text as oracle

# The parts every pattern is made of, and the characters where RE2 and Python's re read classes differently.
ATOMS = [
    *("김", "박초롱", "김연지", "유효정", "가", "힣", "중국", "본문", "선임", "전문", "사진", "영상", "그래픽", "자료"),
    *("기자", "특파원", "통신원", "제공", "사진 제공", "뉴스", "입니다", "연합뉴스", "일보", "MBC", "OSEN", "DB"),
    *("저작권자", "무단", "전재", "재배포", "금지", "복제", "ⓒ", "Ⓒ", "©", "(c)", "(C)", "copyright", "Copyrights"),
    *("İ", "ı", "ſ", "K", "s", "a", "Z", "kim", "1", "١", "Ⅻ", "_", ".", "+", "-", "@", "com", "co.kr", "kr"),
    *("example.com", "news.co.kr", "http://", "https://", "www.", "/", "|", ":", "=", "!", "·", ",", '"', '""'),
    *("[", "]", "【", "】", "(", ")", "<", ">", "〈", "〉", "《", "》", "◀", "▶"),
    *(" ", "  ", "\n", "\t", "\r", "\v", "\x0c", "\x1c", "\x85", "\xa0", "\u2028", "\u3000", "\u200b"),
    *("\u0301", "\x00", "\U0001f600", "\ud800", "\udfff"),  # a combining mark, NUL, an emoji, lone surrogates
]
TEXTS = st.lists(st.one_of(st.sampled_from(ATOMS), st.text(max_size=3)), max_size=60).map("".join)
BUDGET = settings(
    max_examples=2000, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@BUDGET
@given(title=TEXTS, body=TEXTS)
def test_model_text_is_what_python_re_gave(title: str, body: str) -> None:
    assert engine.model_text(title, body) == oracle.model_text(title, body)
    assert engine.strip_boilerplate(title, body=False) == oracle.strip_boilerplate(title, body=False)


def test_bylines_names_tags_and_credits_are_removed_as_before() -> None:
    # the examples the patterns were written for, and strings dense in bylines' parts
    texts = [
        "(서울=연합뉴스) 박초롱 기자 = 본문 김남권 김보경 기자 = 둘째",
        "기자 기자 = 기자=기자!",
        "[마닐라(필리핀)=권혜민 기자] 회담이 열렸다. reporter@news.example.co.kr 사진=OSEN DB",
        "◀ 앵커 ▶ 시위가 이어집니다. MBC뉴스 신정연입니다. ⓒ 한국경제 무단전재 및 재배포 금지",
        "본문\n김연지 기자.\n",
        "본문 Copyright\u3000all rights",
    ]
    for text in texts:
        assert engine.strip_boilerplate(text) == oracle.strip_boilerplate(text), text
        assert engine.strip_boilerplate(text) != " ".join(text.split())  # each does remove something
    # no word boundary after "copyrights", a role word inside a word, no domain, a bracket naming no outlet
    kept = ["본문 copyrights다", "기자간담회에서", "mail@host", "[금요경륜] 베팅"]
    for text in kept:
        assert engine.strip_boilerplate(text) == oracle.strip_boilerplate(text) == text


def _every_character() -> str:
    return "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, sys.maxunicode + 1)))


def test_the_word_and_space_classes_are_pythons_on_every_code_point() -> None:
    text = _every_character()
    for python, ours in ((r"\w", engine._PY_WORD), (r"\s", engine._PY_SPACE)):
        kept = re2.compile(f"[{ours}]".encode()).sub(b"", text.encode()).decode()
        assert kept == re.sub(python, "", text), python


def test_case_insensitive_letters_are_read_as_python_reads_them() -> None:
    text = _every_character()
    for word in ("copyright", "copyrights", "(c)", "ⓒ"):
        for i, letter in enumerate(word):
            if not letter.isalpha():
                continue
            for variant in set(re.findall(re.escape(letter), text, re.IGNORECASE)):
                sample = f"본문 {word[:i]}{variant}{word[i + 1 :]} 끝"
                assert engine.strip_boilerplate(sample) == oracle.strip_boilerplate(sample) == "본문", sample


def _shared_texts() -> list[tuple[str, str]]:
    csv.field_size_limit(sys.maxsize)
    pairs = []
    for path in sorted(Path(__file__).resolve().parents[4].glob("shared/data/*/*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                pairs.append((row["text"] or "", "") if "text" in row else (row["title"] or "", row["body"] or ""))
    return pairs


def test_the_shared_data_sets_read_the_same() -> None:
    pairs = _shared_texts()
    if not pairs:
        pytest.skip("the shared data sets (../shared/data) are not on this machine")
    different = [pair for pair in pairs if engine.model_text(*pair) != oracle.model_text(*pair)]
    assert not different, f"{len(different)} of {len(pairs)} texts differ, e.g. {different[0]!r}"
