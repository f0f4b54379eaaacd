"""Run time: trained models on disk (Orbax checkpoints) and batched, sharded prediction."""

from peakflow.runtime.checkpoint import export_model, load_params
from peakflow.runtime.trained import (
    BROAD_MODEL,
    CHUNK_SIZE,
    DEFAULT_MODEL,
    TrainedModel,
    load_model,
)

__all__ = ["BROAD_MODEL", "CHUNK_SIZE", "DEFAULT_MODEL", "TrainedModel", "export_model",
           "load_model", "load_params"]
