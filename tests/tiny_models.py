"""Tiny, randomly initialised transformers models built from a config, for fast tests of the real code paths."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    BertTokenizer,
    ElectraConfig,
    ElectraModel,
    ElectraTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaModel,
    RobertaTokenizer,
    XLMRobertaTokenizer,
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


# The architectures users bring (KoELECTRA, KLUE-RoBERTa, KLUE-BERT), tiny and randomly initialised, each with the
# kind of tokenizer its checkpoints ship: WordPiece framing a text with [CLS] … [SEP] (ELECTRA, BERT), byte-level
# BPE framing it with <s> … </s> (RoBERTa). 128 positions each: fewer than the recipes' 256 tokens.
ARCHITECTURES = ("electra", "roberta", "bert")
TINY_POSITIONS = 128


def _wordpiece_vocab() -> dict[str, int]:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(CORPUS * 5, trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials))
    return tok.get_vocab()


def _byte_level_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],  # RoBERTa's ids 0-4
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS * 5, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return model["vocab"], merges  # type: ignore[return-value]


def _unigram_vocab() -> list[tuple[str, float]]:
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    tok.train_from_iterator(CORPUS * 5, trainer)
    return [tuple(piece) for piece in json.loads(tok.to_str())["model"]["vocab"]]  # type: ignore[misc]


def _small(config_class: type[PretrainedConfig], **extra) -> PretrainedConfig:
    sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
    return config_class(**sizes, **extra)


def build_encoder(directory: Path, architecture: str, seed: int = 0) -> Path:
    """A Hugging Face `AutoModel` folder of `architecture` (ARCHITECTURES) with its kind of tokenizer."""
    torch.manual_seed(seed)
    model: PreTrainedModel
    if architecture == "electra":
        vocab = _wordpiece_vocab()
        tokenizer = ElectraTokenizer(vocab=vocab)
        config = _small(ElectraConfig, vocab_size=len(vocab), embedding_size=16, max_position_embeddings=TINY_POSITIONS)
        model = ElectraModel(config)
    elif architecture == "roberta":
        vocab, merges = _byte_level_bpe()
        tokenizer = RobertaTokenizer(vocab=vocab, merges=merges)
        config = _small(
            RobertaConfig,
            vocab_size=len(vocab),
            max_position_embeddings=TINY_POSITIONS + 2,  # position ids start after the padding id, as in RoBERTa
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            type_vocab_size=1,
        )
        model = RobertaModel(config)
    elif architecture == "bert":
        vocab = _wordpiece_vocab()
        tokenizer = BertTokenizer(vocab=vocab)
        model = BertModel(_small(BertConfig, vocab_size=len(vocab), max_position_embeddings=TINY_POSITIONS))
    else:
        raise ValueError(f"unknown architecture {architecture!r}")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_e5_shaped_encoder(directory: Path, seed: int = 0) -> Path:
    """The rebuilt e5's shape in small: a `BertModel` (512 positions, padding id 1) with an XLM-R tokenizer."""
    torch.manual_seed(seed)
    vocab = _unigram_vocab()
    config = _small(BertConfig, vocab_size=len(vocab), max_position_embeddings=512, pad_token_id=1)
    config.update({"tokenizer_class": "XLMRobertaTokenizer"})
    BertModel(config).save_pretrained(directory)
    XLMRobertaTokenizer(vocab=vocab).save_pretrained(directory)
    return directory
