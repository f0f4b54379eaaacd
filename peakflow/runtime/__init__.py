"""Run time: trained models on disk (Orbax checkpoints) and batched, sharded prediction."""

from peakflow.runtime.checkpoint import load_params
from peakflow.runtime.integrity import CheckReport, ModelIntegrityError
from peakflow.runtime.sealed import check_model, export_model
from peakflow.runtime.trained import (
    CHUNK_SIZE,
    GRID_MODEL,
    MEASURED_MODEL,
    TrainedModel,
    load_model,
)

__all__ = ["MEASURED_MODEL", "CHUNK_SIZE", "CheckReport", "GRID_MODEL", "ModelIntegrityError",
           "TrainedModel", "check_model", "export_model", "load_model", "load_params"]
