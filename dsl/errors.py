"""The one error root of the DSL package and everything raised under it.

Every exception that leaves `dsl` is a `DslError`::

    DslError                      any failure raised by the dsl package
    ├── DslValidationError        a workflow, condition or stored plan is invalid;
    │                             `.problems` lists every problem, each with a stable
    │                             `code`, a JSON-pointer `path` and a `message`
    ├── DslStateError             the engine handed in a state or context that does not
    │                             fit the plan (unknown step, missing result)
    └── DslCostError              a condition could not be decided within its bounds
                                  (`.bound` names the `Limits` field that was hit)

`load()` raises nothing but `DslValidationError`, whatever it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DslCostError", "DslError", "DslStateError", "DslValidationError", "Problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a DSL document.

    `code` is a stable snake_case identifier clients may switch on; `path` is a
    JSON pointer (RFC 6901) into the input, `""` being the whole document;
    `message` is for humans and may change.
    """

    code: str
    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The problem as a plain JSON object."""
        return {"code": self.code, "path": self.path, "message": self.message}


class DslError(Exception):
    """Root of every error raised by the `dsl` package."""


class DslValidationError(DslError):
    """The input is not a valid workflow (or condition, or stored plan).

    Carries every problem found, not only the first, in document order.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        count = len(self.problems)
        head = "; ".join(f"{p.path or '/'}: {p.message} [{p.code}]" for p in self.problems[:3])
        more = f" (and {count - 3} more)" if count > 3 else ""
        super().__init__(f"{count} problem{'s' if count != 1 else ''}: {head}{more}")


class DslStateError(DslError):
    """The execution state or context given to the scheduler or renderer does not fit the plan."""


class DslCostError(DslError):
    """A condition would cost more than its bounds allow, so it is neither true nor false.

    `bound` is the name of the `Limits` field that was hit (`condition_budget_s`,
    `regex_timeout_s`, `max_condition_chars`, ...); the message says which
    condition and by how much, for the operator who wrote it.
    """

    def __init__(self, bound: str, message: str) -> None:
        self.bound = bound
        super().__init__(message)
