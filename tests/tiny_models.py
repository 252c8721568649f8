"""Tiny, randomly initialised transformers models built from a config, for fast tests of the real code paths."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    PreTrainedTokenizerFast,
)

from streamproc.inference.multihead import MultiHeadClassifier

TOPICS = ["politics", "economy", "society", "culture", "world", "it", "sports", "entertainment"]
SENTIMENTS = ["positive", "neutral", "negative"]
CORPUS = [
    "정부 국회 선거 대통령 경제 주가 반도체 수출 사회 사건 문화 공연 세계 외교 인공지능 스마트폰",
    "government election market stocks chips exports police concert festival diplomacy ai phone",
    "good bad record growth loss accident award rescue layoffs",
]


def tiny_tokenizer(directory: Path) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer trained on a few words, saved to `directory`."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator(CORPUS * 5, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(directory)
    return fast


def tiny_config(labels: list[str] | None = None) -> BertConfig:
    """A 2-layer BERT with hidden size 32."""
    extra = {}
    if labels is not None:
        extra = {"id2label": dict(enumerate(labels)), "label2id": {name: i for i, name in enumerate(labels)}}
    return BertConfig(
        vocab_size=400,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **extra,
    )


def build_sequence_classifier(directory: Path, labels: list[str], seed: int = 0) -> Path:
    """A Hugging Face `AutoModelForSequenceClassification` folder with the given labels."""
    torch.manual_seed(seed)
    model = BertForSequenceClassification(tiny_config(labels))
    model.save_pretrained(directory)
    tiny_tokenizer(directory)
    return directory


def build_multihead(directory: Path, seed: int = 0, loss_head: bool = False) -> Path:
    """A streamproc multi-head folder with topic and sentiment heads (and optionally a loss head)."""
    torch.manual_seed(seed)
    encoder = BertModel(tiny_config(), add_pooling_layer=False)
    model = MultiHeadClassifier(
        encoder,
        {"topic": TOPICS, "sentiment": SENTIMENTS},
        loss_head_layers=[1, 2] if loss_head else None,
        version=f"tiny-{seed}",
    )
    tokenizer = tiny_tokenizer(directory / "encoder")
    model.save(directory, tokenizer=tokenizer)
    return directory


def build_base_encoder(directory: Path, seed: int = 0) -> Path:
    """A Hugging Face `AutoModel` folder with its tokenizer: a stand-in for the rebuilt e5 encoder."""
    torch.manual_seed(seed)
    BertModel(tiny_config(), add_pooling_layer=False).save_pretrained(directory)
    tiny_tokenizer(directory)
    return directory


def served_ids(predictor, texts: list[str]) -> list[list[int]]:
    """The token ids a torch predictor feeds its encoder, per text in input order (padding removed)."""
    served = {}
    for index, input_ids, mask in predictor._chunks(texts):
        for row, i in enumerate(index):
            served[i] = input_ids[row][mask[row].bool()].tolist()
    return [served[i] for i in range(len(texts))]
