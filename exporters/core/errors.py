"""The one error type that the command line turns into `path: problem` lines and exit code 2."""

from __future__ import annotations


class ConfigError(Exception):
    """A user-facing configuration problem; each entry of `problems` is one `path: message` line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
