"""The one text builder: what a model reads of an article, at training time and in the worker alike.

`model_text(title, body)` strips the crawl's boilerplate (reporter bylines, datelines such as
`(서울=연합뉴스)`, outlet tags such as `[스포츠조선 김영록 기자]`, broadcast markers, e-mail addresses, URLs,
photo credits and copyright lines), folds whitespace and joins title and body with a newline. The models
must learn the story, not the outlet: outlet names correlate with news sections in crawled data
("스포츠조선 → sports"), and such a shortcut fails on every other outlet.

What of a long article the model reads within `max_tokens` is the token side's job
(`streamproc.inference.truncation.token_ids`: title + lead and the end of the body, as the model's manifest
says); `MAX_TITLE_CHARS` and `MAX_BODY_CHARS` bound the work for very long titles and bodies (the character
n-gram branch reads the whole text).

Publisher text is hostile input: the patterns run on RE2 (`google-re2`), whose matching time is linear in the
text. Python's backtracking `re` took about 100 s on a 200,000-character title of letters ending in "@" (the
e-mail pattern is quadratic there), on the worker's event loop. The patterns keep Python's meaning: `\\w` and
`\\s` are Python's own classes (`_PY_WORD`, `_PY_SPACE`, read from `re` itself), and case-insensitive letters
are spelled out as Python matches them (tests/streamproc/ingest/test_model_text_engine.py compares both engines).
"""

from __future__ import annotations

import array
import re
import sys

import re2

MAX_TITLE_CHARS = 1000
MAX_BODY_CHARS = 4000
MAX_INPUT_CHARS = MAX_TITLE_CHARS + 1 + MAX_BODY_CHARS


def _python_classes(*patterns: str) -> list[str]:
    """The characters Python's `re` matches with each of `patterns` (e.g. `\\w`), as the inside of an RE2 class."""
    every = array.array("I", range(0xD800))  # every code point but the surrogates (not in UTF-8 text)
    every.extend(range(0xE000, 0x110000))
    text = every.tobytes().decode(f"utf-32-{sys.byteorder[0]}e")  # "I" is 4 bytes wherever torch runs
    return [
        "".join(rf"\x{{{ord(text[start]):x}}}-\x{{{ord(text[end - 1]):x}}}" for start, end in spans)
        for spans in ([match.span() for match in re.finditer(pattern + "+", text)] for pattern in patterns)
    ]


# Python's \w: letters and digits of every script, and "_" (734 ranges on Python 3.11); Python's \s: Unicode white
# space, e.g. U+3000 and U+00A0 (RE2's own \w and \s are ASCII only). About 0.1 s, once per process.
_PY_WORD, _PY_SPACE = _python_classes(r"\w", r"\s")
_S, _NOT_S = f"[{_PY_SPACE}]", f"[^{_PY_SPACE}]"


def _compile(pattern: str) -> re2._Regexp:
    """`pattern` for UTF-8 bytes (the text is encoded once per call: no character/byte offset conversions)."""
    options = re2.Options()
    options.log_errors = False  # a pattern error raises; nothing is printed to stderr
    return re2.compile(pattern.encode(), options)


_OPEN, _CLOSE = r"[\[【(<〈《]", r"[\]】)>〉》]"
_OUTLET = (
    r"기자|특파원|통신원|리포터|=|뉴스|일보|신문|경제|데일리|스포츠|방송|닷컴|미디어|타임스|투데이|헤럴드|"
    r"앵커|리포트|뉴스데스크|인터뷰|사진|제공|[A-Za-z]+\.(?:com|co\.kr|kr|net)"
)
# A bracketed tag of at most 40 characters naming an outlet, a reporter, a dateline or a broadcast role.
_TAG = _compile(rf"{_OPEN}[^\]】)>〉》\[【(<〈《]{{0,40}}?(?:{_OUTLET})[^\]】)>〉》\[【(<〈《]{{0,40}}{_CLOSE}")
# Square-bracket tags may hold a parenthesised place: "[마닐라(필리핀)=권혜민 기자]".
_SQUARE_TAG = _compile(rf"[\[【][^\[\]【】]{{0,50}}?(?:{_OUTLET})[^\[\]【】]{{0,50}}[\]】]")
# "박초롱 기자 =", "김남권 김보경 기자 =", "유효정 중국 전문기자 =": a byline ends with "=".
_BYLINE = _compile(
    rf"(?:[가-힣]{{2,4}}[ ·,]{{1,2}}){{0,3}}[가-힣]{{2,4}}{_S}?(?:[가-힣]{{1,6}}{_S})?"
    rf"(?:선임|수석|전문|객원|인턴|사진|영상)?{_S}?(?:기자|특파원|통신원){_S}*[=!]"
)
# A body's closing "김연지 기자" / "김연지 기자 kim@..." (only at the very end of a body). Python's `$` also
# matches before a final newline, RE2's only at the end: `[.\s]*` takes that newline, so both match the same.
_CLOSING_BYLINE = _compile(rf"(?:^|{_S})[가-힣]{{2,4}}{_S}?(?:기자|특파원|통신원)[.{_PY_SPACE}]*$")
_EMAIL = _compile(rf"[{_PY_WORD}.+-]+@[{_PY_WORD}-]+(?:\.[{_PY_WORD}-]+)+")
_URL = _compile(rf"(?:https?://|www\.){_NOT_S}+")
# "사진=OSEN DB", "/사진 제공=MBC", "사진|연합뉴스", "그래픽=김하경 기자".
_CREDIT = _compile(
    rf"/?{_S}?(?:사진|그래픽|자료|영상|사진{_S}?제공|제공){_S}?[=|:]{_S}?[^{_PY_SPACE},.)\]]+(?:{_S}(?:DB|제공))?"
)
# Case-insensitive as Python's re.IGNORECASE reads it ("i" also matches "İ" and "ı", "s" also "ſ"); Python's
# `copyrights?\b` is `copyrights?` followed by a non-word character or the end (the match runs to the end anyway).
_COPYRIGHT = _compile(
    r"(?:[ⓒⒸ]|©|\([Cc]\)|[Cc][Oo][Pp][Yy][Rr][Iiİı][Gg][Hh][Tt][Ssſ]?(?:[^" + _PY_WORD + r"]|$)|저작권자|"
    rf"무단{_S}?전재|재배포{_S}?금지|무단{_S}?복제)(?s:.*)$"
)
# Broadcast transcripts: "◀ 앵커 ▶", a closing "MBC뉴스 신정연입니다."
_BROADCAST = _compile(rf"◀[^▶]{{0,20}}▶|[A-Za-z가-힣]{{1,10}}{_S}?뉴스{_S}?[가-힣]{{2,4}}입니다\.?")
_EMPTY_BRACKETS = _compile(rf"{_OPEN}{_S}*{_CLOSE}")


def strip_boilerplate(text: str, body: bool = True) -> str:
    """`text` without bylines, datelines, outlet tags, e-mails, URLs, photo credits and copyright lines.

    `body=False` (titles, headlines) keeps a trailing "… 기자", which there is content, not a byline.
    """
    if not text:
        return text
    data = text.replace('""', '"').encode("utf-8", "surrogatepass")
    for pattern, needs in _REMOVALS if body else _REMOVALS[:-1]:
        if not needs or any(literal in data for literal in needs):
            data = pattern.sub(_blank, data)
    # `" ".join(split())` folds white space exactly as `re.sub(r"\s+", " ", ...).strip()`: both use str.isspace
    text = " ".join(data.decode("utf-8", "surrogatepass").split()).lstrip("= ")
    if text.count('"') % 2:  # a quote left over from the crawler's CSV quoting
        text = text[1:] if text.startswith('"') else text[:-1] if text.endswith('"') else text
    return text.strip()


def _blank(match: object) -> bytes:
    return b" "


def _needs(*literals: str) -> tuple[bytes, ...]:
    return tuple(literal.encode() for literal in literals)


_ROLES = _needs("기자", "특파원", "통신원")
_BRACKETS = _needs("[", "【", "(", "<", "〈", "《")
# In order, each with the literals one of which any match contains (a text with none of them is not searched);
# the last applies to bodies only.
_REMOVALS: tuple[tuple[re2._Regexp, tuple[bytes, ...]], ...] = (
    (_COPYRIGHT, _needs("ⓒ", "Ⓒ", "©", "c)", "C)", "py", "pY", "Py", "PY", "저작권자", "무단", "재배포")),
    (_EMAIL, _needs("@")),
    (_URL, _needs("http", "www.")),
    (_SQUARE_TAG, _needs("[", "【")),
    (_TAG, _BRACKETS),
    (_BROADCAST, _needs("◀", "뉴스")),
    (_CREDIT, _needs("사진", "그래픽", "자료", "영상", "제공")),
    (_BYLINE, _ROLES),
    (_EMPTY_BRACKETS, _BRACKETS),
    (_CLOSING_BYLINE, _ROLES),
)


def model_text(title: str, body: str) -> str:
    """The model input for an article: cleaned title (at most `MAX_TITLE_CHARS`), a newline, cleaned body (at
    most `MAX_BODY_CHARS`). Each is cleaned from at most twice its cap of raw text.

    An article that is nothing but boilerplate keeps its folded original text: never an empty input.
    """
    title, body = (title or "")[: MAX_TITLE_CHARS * 2], (body or "")[: MAX_BODY_CHARS * 2]
    clean_title = strip_boilerplate(title, body=False)[:MAX_TITLE_CHARS]
    clean_body = strip_boilerplate(body)[:MAX_BODY_CHARS]
    text = f"{clean_title}\n{clean_body}" if clean_title and clean_body else clean_title or clean_body
    return text or " ".join(f"{title} {body}".split())[:MAX_INPUT_CHARS]


def one_column_text(text: str) -> str:
    """The model input for a data set's single `text` column (a sentence, or an exported model input):
    cleaned like a title, at most `MAX_INPUT_CHARS` (the whole input's cap, not the title's)."""
    text = (text or "")[: MAX_INPUT_CHARS * 2]
    return strip_boilerplate(text, body=False)[:MAX_INPUT_CHARS] or " ".join(text.split())[:MAX_INPUT_CHARS]
