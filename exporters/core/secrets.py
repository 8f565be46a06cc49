"""Secrets given inline or as `<name>_file`, shared by every config section."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel


def read_secret(inline: str | None, file: Path | None, what: str) -> str | None:
    """A secret given inline or as `<what>_file`; the file's content is stripped of the newline."""
    if file is None:
        return inline
    try:
        return file.read_text().rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read {what}_file {str(file)!r}: {exc.strerror}") from None


def exactly_one_secret(model: BaseModel, name: str) -> None:
    if getattr(model, name) is not None and getattr(model, f"{name}_file") is not None:
        raise ValueError(f"set either {name} or {name}_file, not both")
