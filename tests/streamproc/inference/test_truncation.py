"""Head + tail truncation: the one function training and serving turn texts into token ids with."""

from __future__ import annotations

import pytest
from tokenizers import processors

from streamproc.errors import UserError
from streamproc.inference.truncation import check_truncation, head_tail, token_ids
from tests.tiny_models import tiny_tokenizer

SHORT = ["정부 선거", "market stocks", "ai"]
HEAD_WORDS, TAIL_WORDS = "정부 국회 선거 대통령 ", "concert festival diplomacy "


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    """The tiny WordPiece tokenizer, framing each text in [CLS] … [SEP] as BERT's and e5's do."""
    tok = tiny_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer")
    specials = [(name, tok.convert_tokens_to_ids(name)) for name in ("[CLS]", "[SEP]")]
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=specials
    )
    return tok


def test_texts_within_the_budget_come_out_as_the_tokenizer_gives_them(tokenizer) -> None:
    plain = tokenizer(SHORT)["input_ids"]
    assert token_ids(tokenizer, SHORT, 32, "head_tail") == plain
    assert token_ids(tokenizer, SHORT, 32, "head") == plain


def test_a_long_text_keeps_its_head_and_its_tail_between_the_special_tokens(tokenizer) -> None:
    text = HEAD_WORDS * 20 + "market " * 50 + TAIL_WORDS * 10
    full = tokenizer([text])["input_ids"][0]
    (ids,) = token_ids(tokenizer, [text], 32, "head_tail")
    assert len(ids) == 32 and len(full) > 100
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    head, tail = int(30 * 2 / 3), 30 - int(30 * 2 / 3)  # 30 text tokens between [CLS] and [SEP]
    assert ids[1 : 1 + head] == full[1 : 1 + head]
    assert ids[1 + head : -1] == full[-1 - tail : -1]
    assert tokenizer.decode(ids[-1 - tail : -1]).split()[-3:] == TAIL_WORDS.split()
    (head_only,) = token_ids(tokenizer, [text], 32, "head")
    assert head_only == [*full[:31], tokenizer.sep_token_id]  # the legacy cut is the tokenizer's own
    assert "festival" not in tokenizer.decode(head_only)


def test_head_tail_of_plain_ids_and_bad_names() -> None:
    assert head_tail(list(range(5)), 9) == list(range(5))
    assert head_tail(list(range(100)), 9) == [0, 1, 2, 3, 4, 5, 97, 98, 99]
    with pytest.raises(UserError, match="unknown truncation"):
        check_truncation("middle")


def test_a_budget_with_no_room_is_a_clear_error(tokenizer) -> None:
    with pytest.raises(UserError, match="no room"):
        token_ids(tokenizer, [HEAD_WORDS * 10], 3, "head_tail")
