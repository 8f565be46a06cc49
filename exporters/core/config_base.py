"""The base of every config model, in its own module so section modules can import it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are refused; models are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
