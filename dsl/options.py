"""Every option of the DSL with its default, and every size limit, in one place.

A field left out of a workflow takes the default written here; nothing else
in the package hard-codes a default or a limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

__all__ = ["LIMITS", "Limits", "OnFailure", "RetryPolicy", "StepOptions", "WorkflowOptions"]

OnFailure = Literal["fail", "continue"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failed step attempt is tried again, and how long to wait in between."""

    max_attempts: int = 1
    """Attempts in total, the first included: 1 means no retry (an agent run costs money)."""
    backoff_s: float = 2.0
    """Wait before the second attempt; doubled before each further one."""
    max_backoff_s: float = 60.0
    """Upper bound of any single wait (when left out, `backoff_s` if that is larger)."""

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait before `attempt` (2 = the first retry); 0 for the first attempt."""
        if attempt <= 1:
            return 0.0
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** min(attempt - 2, 30)))


@dataclass(frozen=True, slots=True)
class StepOptions:
    """Per-step options (the extensions to the seed's step format)."""

    model: str | None = None
    """Model the Suna agent should use; `None` keeps the agent's own default."""
    timeout_s: float = 900.0
    """Wall-clock limit of one attempt, from start to the agent's final answer."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retry policy of the step."""
    on_failure: OnFailure = "fail"
    """`fail`: a failure (after retries) fails the execution and cancels running steps.
    `continue`: the execution goes on; steps that need this step's result are skipped."""
    requires_keys: tuple[str, ...] = ()
    """Provider services (`[a-z0-9_-]{1,64}`) whose user key must be forwarded to the agent."""


@dataclass(frozen=True, slots=True)
class WorkflowOptions:
    """Per-workflow options."""

    max_concurrency: int = 16
    """Steps of one execution running at the same time, at most."""
    timeout_s: float = 3600.0
    """Wall-clock limit of the whole execution."""
    budget_usd: Decimal | None = None
    """Spend after which no further step starts; `None` means no execution budget.
    Given as a JSON number or a decimal string, kept as `Decimal`, never a float."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits that keep validation, planning and evaluation fast whatever the input."""

    max_document_chars: int = 1_000_000
    """Length of a workflow given as a JSON string."""
    max_steps: int = 200
    """Steps in one workflow."""
    max_id_chars: int = 64
    """Length of a step id and of a service name in `requires_keys`."""
    max_agent_id_chars: int = 128
    """Length of a Suna agent id."""
    max_text_chars: int = 2_000
    """Length of `name`, `description`, `role`, `model`, condition fields and string values."""
    max_template_chars: int = 20_000
    """Length of a prompt template."""
    max_placeholders: int = 100
    """Placeholders in one template."""
    max_list_items: int = 100
    """Items of `conditions`, `sources`, `depends_on`, `requires_keys`, `in` values, groups."""
    max_condition_depth: int = 8
    """Nesting of `all` / `any` / `not` groups."""
    max_condition_nodes: int = 64
    """Conditions and groups under one step, counted together."""
    max_path_segments: int = 16
    """Dotted segments in a field or placeholder path."""
    max_regex_chars: int = 256
    """Length of a `matches` pattern."""
    max_regex_repeat: int = 1_000
    """Product of all counted repetitions (`{n}`, `{n,m}`) in a pattern; bounds compile cost."""
    max_regexes: int = 16
    """`matches` conditions in one workflow."""
    max_match_subject_chars: int = 100_000
    """Longest string a `matches` searches; a longer one makes the condition too costly."""
    regex_timeout_s: float = 0.02
    """Time one `matches` search may take; past it the condition is too costly."""
    max_condition_chars: int = 1_000_000
    """Longest string a `contains` searches; a longer one makes the condition too costly."""
    max_condition_items: int = 10_000
    """Most items of an array a `contains` searches; more make the condition too costly."""
    condition_budget_s: float = 0.05
    """CPU time all conditions evaluated by one scheduler decision may take together;
    the step being evaluated when it runs out (and any after it) is too costly."""
    max_timeout_s: float = 7 * 86_400.0
    """Upper bound of any `timeout_s`."""
    max_attempts: int = 10
    """Upper bound of `retry.max_attempts`."""
    max_budget_usd: Decimal = Decimal(1_000_000)
    """Upper bound of `budget_usd`."""
    max_problems: int = 500
    """Problems reported at most; the last one then says that more were left out."""


LIMITS = Limits()
"""The limits in force."""
