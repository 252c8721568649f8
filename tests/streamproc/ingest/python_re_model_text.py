"""The text builder on Python's `re`, as it was before the patterns moved to RE2 (commit 2f0e6c5): the oracle
that `streamproc.ingest.model_text` is compared with (test_model_text_engine.py).

Its e-mail pattern backtracks quadratically (about 100 s on a 200,000-character title ending in "@"): call it on
short texts only. Change it only together with the RE2 patterns, when the text builder is meant to change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

MAX_BODY_CHARS = 4000

_OPEN, _CLOSE = r"[\[【(<〈《]", r"[\]】)>〉》]"
_OUTLET = (
    r"기자|특파원|통신원|리포터|=|뉴스|일보|신문|경제|데일리|스포츠|방송|닷컴|미디어|타임스|투데이|헤럴드|"
    r"앵커|리포트|뉴스데스크|인터뷰|사진|제공|[A-Za-z]+\.(?:com|co\.kr|kr|net)"
)
# A bracketed tag of at most 40 characters naming an outlet, a reporter, a dateline or a broadcast role.
_TAG = re.compile(rf"{_OPEN}[^\]】)>〉》\[【(<〈《]{{0,40}}?(?:{_OUTLET})[^\]】)>〉》\[【(<〈《]{{0,40}}{_CLOSE}")
# Square-bracket tags may hold a parenthesised place: "[마닐라(필리핀)=권혜민 기자]".
_SQUARE_TAG = re.compile(rf"[\[【][^\[\]【】]{{0,50}}?(?:{_OUTLET})[^\[\]【】]{{0,50}}[\]】]")
# "박초롱 기자 =", "김남권 김보경 기자 =", "유효정 중국 전문기자 =": a byline ends with "=".
_BYLINE = re.compile(
    r"(?:[가-힣]{2,4}[ ·,]{1,2}){0,3}[가-힣]{2,4}\s?(?:[가-힣]{1,6}\s)?"
    r"(?:선임|수석|전문|객원|인턴|사진|영상)?\s?(?:기자|특파원|통신원)\s*[=!]"
)
# Where a byline can end, and how far before its role word it can start: searched only there, `_BYLINE` costs
# microseconds instead of backtracking at every syllable of the body (about 0.7 ms per article).
_ROLE_END = re.compile(r"(?:기자|특파원|통신원)\s*[=!]")
_BYLINE_REACH = 33  # (4 + 2) × 3 + 4 + 1 + (6 + 1) + 2 + 1 characters of `_BYLINE` before its role word
# A body's closing "김연지 기자" / "김연지 기자 kim@..." (only at the very end of a body).
_CLOSING_BYLINE = re.compile(r"(?:^|\s)[가-힣]{2,4}\s?(?:기자|특파원|통신원)[.\s]*$")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?:https?://|www\.)\S+")
# "사진=OSEN DB", "/사진 제공=MBC", "사진|연합뉴스", "그래픽=김하경 기자".
_CREDIT = re.compile(r"/?\s?(?:사진|그래픽|자료|영상|사진\s?제공|제공)\s?[=|:]\s?[^\s,.)\]]+(?:\s(?:DB|제공))?")
_COPYRIGHT = re.compile(
    r"(?:ⓒ|©|\(c\)|copyrights?\b|저작권자|무단\s?전재|재배포\s?금지|무단\s?복제).*$", re.IGNORECASE | re.DOTALL
)
# Broadcast transcripts: "◀ 앵커 ▶", a closing "MBC뉴스 신정연입니다."
_BROADCAST = re.compile(r"◀[^▶]{0,20}▶|[A-Za-z가-힣]{1,10}\s?뉴스\s?[가-힣]{2,4}입니다\.?")
_SPACE = re.compile(r"\s+")
_EMPTY_BRACKETS = re.compile(rf"{_OPEN}\s*{_CLOSE}")


def strip_boilerplate(text: str, body: bool = True) -> str:
    """`text` without bylines, datelines, outlet tags, e-mails, URLs, photo credits and copyright lines.

    `body=False` (titles, headlines) keeps a trailing "… 기자", which there is content, not a byline.
    """
    text = text.replace('""', '"')
    for remove, needs in _REMOVALS:
        if not needs or any(literal in text for literal in needs):
            text = remove(text)
    if body:
        text = _CLOSING_BYLINE.sub(" ", text)
    text = _SPACE.sub(" ", text).strip().lstrip("= ")
    if text.count('"') % 2:  # a quote left over from the crawler's CSV quoting
        text = text[1:] if text.startswith('"') else text[:-1] if text.endswith('"') else text
    return text.strip()


def _drop_bylines(text: str) -> str:
    """`_BYLINE.sub(" ", text)`, searching only the stretch before each place where a byline can end.

    Exact: a byline cannot contain "=" or "!", so a match never spans two of those places.
    """
    parts, done = [], 0
    for end in _ROLE_END.finditer(text):
        match = _BYLINE.search(text, max(done, end.start() - _BYLINE_REACH), end.end())
        if match:
            parts += [text[done : match.start()], " "]
            done = match.end()
    return "".join(parts) + text[done:]


def _blank(pattern: re.Pattern[str]) -> Callable[[str], str]:
    return partial(pattern.sub, " ")


# In order, each with the literals one of which any match contains (a text with none of them is not searched).
_REMOVALS: tuple[tuple[Callable[[str], str], tuple[str, ...]], ...] = (
    (_blank(_COPYRIGHT), ()),
    (_blank(_EMAIL), ("@",)),
    (_blank(_URL), ()),
    (_blank(_SQUARE_TAG), ()),
    (_blank(_TAG), ()),
    (_blank(_BROADCAST), ("◀", "뉴스")),
    (_blank(_CREDIT), ()),
    (_drop_bylines, ()),
    (_blank(_EMPTY_BRACKETS), ()),
)


def model_text(title: str, body: str) -> str:
    """The model input for an article: cleaned title, a newline, cleaned body (at most `MAX_BODY_CHARS`).

    An article that is nothing but boilerplate keeps its folded original text: never an empty input.
    """
    clean_title = strip_boilerplate(title or "", body=False)
    clean_body = strip_boilerplate((body or "")[: MAX_BODY_CHARS * 2])[:MAX_BODY_CHARS]
    text = f"{clean_title}\n{clean_body}" if clean_title and clean_body else clean_title or clean_body
    return text or _SPACE.sub(" ", f"{title or ''} {body or ''}").strip()
