"""The one text builder: boilerplate stripped, the same text in training (`read_tsv`) and in the worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.ingest.article import Article
from streamproc.ingest.model_text import MAX_BODY_CHARS, MAX_TITLE_CHARS, model_text, strip_boilerplate
from streamproc_models.data import read_tsv


@pytest.mark.parametrize(
    ("raw", "kept", "gone"),
    [
        (
            "[스포츠조선 김영록 기자] 배우 김씨가 새 드라마에 출연한다.",
            "배우 김씨가 새 드라마에 출연한다.",
            "스포츠조선",
        ),
        ("(서울=연합뉴스) 박초롱 기자 = 재건축 부담금이 통지됐다.", "재건축 부담금이 통지됐다.", "연합뉴스"),
        ("【서울=뉴시스】조현아 기자 = 달러화예금이 줄었다.", "달러화예금이 줄었다.", "뉴시스"),
        ("[TV리포트=손효정 기자] 가수가 컴백했다.", "가수가 컴백했다.", "리포트"),
        ("[마닐라(필리핀)=권혜민 기자] 회담이 열렸다.", "회담이 열렸다.", "권혜민"),
        ("현장에 나가 있는 김태민 기자! 상황 전해주시죠.", "상황 전해주시죠.", "김태민"),
        ("(지디넷코리아=유효정 중국 전문기자)샤오미가 조직을 만든다.", "샤오미가 조직을 만든다.", "지디넷"),
        ("시위가 이어졌다. 김연지 기자 ", "시위가 이어졌다.", "기자"),
        ("금리가 올랐다. 문의 reporter@news.example.co.kr", "금리가 올랐다. 문의", "@"),
        ("경기 장면. 사진=OSEN DB 선수가 골을 넣었다.", "선수가 골을 넣었다.", "OSEN"),
        ("주가가 올랐다. ⓒ 한국경제 무단전재 및 재배포 금지", "주가가 올랐다.", "무단"),
        ("◀ 앵커 ▶ 시위가 이어집니다. MBC뉴스 신정연입니다.", "시위가 이어집니다.", "MBC"),
        ("자세한 내용은 https://www.example.com/a?b=1 에서 확인", "자세한 내용은 에서 확인", "http"),
    ],
)
def test_boilerplate_is_stripped_and_the_story_kept(raw: str, kept: str, gone: str) -> None:
    cleaned = strip_boilerplate(raw)
    assert gone not in cleaned
    assert kept in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "기자간담회에서 장관이 정책을 설명했다.",  # 기자 inside a word is content
        "[금요경륜] 이근우의 베팅포커스",  # a bracketed topic tag, not an outlet
        "8일(현지시간) 미국 캘리포니아주에서 열린 행사",
        "교육부의 체육특기자 제도 개선안",
        "'시크릿 마더' 송윤아와 김소연이 악연으로 얽혔다.",
        "실망 -_-",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert strip_boilerplate(text) == text


def test_a_trailing_reporter_in_a_title_is_content() -> None:
    assert strip_boilerplate("방통위 보궐이사에 이동욱 전 월간조선 기자", body=False).endswith("월간조선 기자")
    assert model_text("보좌관 인터넷매체 기자 압수수색", "") == "보좌관 인터넷매체 기자 압수수색"


def test_model_text_joins_title_and_body_and_bounds_both() -> None:
    assert model_text("제목", "본문") == "제목\n본문"
    assert model_text("", "본문") == "본문" and model_text("제목", "") == "제목"
    assert model_text("[OSEN=정지원 기자] 제목", "  본문   둘  ") == "제목\n본문 둘"
    long = model_text("t", "가" * (MAX_BODY_CHARS * 3))
    assert len(long) == len("t\n") + MAX_BODY_CHARS
    assert model_text("가" * (MAX_TITLE_CHARS * 3), "b") == "가" * MAX_TITLE_CHARS + "\nb"  # titles too
    only_boilerplate = model_text("", "ⓒ " + "가" * (MAX_BODY_CHARS * 3))  # the folded original, also bounded
    assert only_boilerplate.startswith("ⓒ 가") and len(only_boilerplate) <= MAX_TITLE_CHARS + 1 + MAX_BODY_CHARS
    assert model_text("", "김연지 기자") == "김연지 기자"  # nothing but boilerplate: keep it, never an empty input


def test_serving_and_training_read_the_same_text(tmp_path: Path) -> None:
    title, body = "프로농구 개막", "[스포츠조선 김영록 기자] 프로농구가 개막했다. kim@example.com"
    article = Article.model_validate({"id": "a", "title": title, "body": body, "published_at": "2026-11-20T09:00Z"})
    path = tmp_path / "train.tsv"
    path.write_text(f"title\tbody\tlabel\n{title}\t{body}\tsports\n", encoding="utf-8")
    assert read_tsv(path).texts == [article.text] == ["프로농구 개막\n프로농구가 개막했다."]
