"""First pass over the steps: ids, agents and roles, and resolution of references to them.

A reference names a step by its id or, when exactly one step runs that
agent, by its agent id. Ids default to the agent id, or to the role when
several steps share one agent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from dsl._parse_conditions import ConditionParser
from dsl._reader import ID_PATTERN, At, Reader, type_name
from dsl.fields import parse_field
from dsl.model import WorkflowType
from dsl.options import LIMITS


class Heads:
    """Ids, agent ids and labels of every step, and the resolvers built on them."""

    def __init__(self, reader: Reader, kind: WorkflowType) -> None:
        self.reader = reader
        self.kind = kind
        self.ids: list[str | None] = []
        self.agent_ids: list[str | None] = []
        self.labels: dict[str, str] = {}
        self.index: dict[str, int] = {}
        self.by_agent: dict[str, list[str]] = {}
        self.current = 0
        """Index of the step being parsed; references are checked against it."""
        self.conditions = ConditionParser(reader, self.resolve_field)

    def resolve_ref(self, ref: str, path: At) -> str | None:
        """The step id a reference names, checked to be able to finish before the current step."""
        step: str | None = ref if ref in self.index else None
        if step is None:
            owners = self.by_agent.get(ref, [])
            if len(owners) > 1:
                self.reader.add(
                    "ambiguous_ref",
                    path,
                    f"agent {ref!r} runs in several steps ({', '.join(owners)}); use a step id",
                )
                return None
            if not owners:
                self.reader.add("unknown_ref", path, f"no step or agent {ref!r}")
                return None
            step = owners[0]
        self._check_order(step, path)
        return step

    def read_ref(self, value: object, path: At) -> str | None:
        """Read a reference (a string naming a step or an agent) and resolve it."""
        if not (isinstance(value, str) and (value in self.index or value in self.by_agent)):
            value = self.reader.string(value, path, LIMITS.max_agent_id_chars, ID_PATTERN)
        return None if value is None else self.resolve_ref(value, path)

    def resolve_field(self, field: str, path: At) -> tuple[str, ...] | None:
        """The context path of a condition field."""
        return self._field(field, path, "invalid_field")

    def resolve_placeholder(self, field: str, path: At) -> tuple[str, ...] | None:
        """The context path of a template placeholder."""
        return self._field(field, path, "unknown_placeholder")

    def _field(self, field: str, path: At, code: str) -> tuple[str, ...] | None:
        parsed = parse_field(field)
        if parsed is None:
            self.reader.add(
                code,
                path,
                f"{field[:80]!r} is not initial_prompt, "
                "results.<step>[.<key>...] or agent_<id>_result[...]",
            )
            return None
        if parsed.ref is None:
            return ("initial_prompt",)
        step = self.resolve_ref(parsed.ref, path)
        return None if step is None else ("results", step, *parsed.keys)

    def _check_order(self, step: str, path: At) -> None:
        target, current = self.index[step], self.current
        if target == current:
            self.reader.add("ref_not_before", path, f"step {step!r} refers to itself")
        elif self.kind == "sequential" and target > current:
            self.reader.add("ref_not_before", path, f"step {step!r} runs after this one")
        elif self.kind == "parallel":
            self.reader.add(
                "ref_not_before",
                path,
                f"parallel steps all start at once, so {step!r} cannot have finished; use dag",
            )


def read_heads(agents: Sequence[object], kind: WorkflowType, reader: Reader) -> Heads:
    """Read every step's id, agent id and role; report bad and duplicate ids."""
    heads = Heads(reader, kind)
    roles: list[str | None] = []
    explicit: list[str | bool | None] = []
    for i, item in enumerate(agents):
        path = f"/agents/{i}"
        if not isinstance(item, Mapping):
            reader.add("wrong_type", path, f"expected an object, got {type_name(item)}")
            heads.agent_ids.append(None)
            roles.append(None)
            explicit.append(False)
            continue
        agent = item.get("agent_id")
        if agent is not None or "agent_id" in item:
            agent = reader.string(agent, (path, "agent_id"), LIMITS.max_agent_id_chars, ID_PATTERN)
        heads.agent_ids.append(agent)
        role = None
        if item.get("role") is not None:
            role = reader.string(item["role"], (path, "role"), LIMITS.max_text_chars)
        roles.append(role)
        given: str | bool | None = False
        if "id" in item:
            given = reader.string(item["id"], (path, "id"), LIMITS.max_id_chars, ID_PATTERN)
        explicit.append(given)
    shared = Counter(agent for agent in heads.agent_ids if agent is not None)
    for i, (agent, role, given) in enumerate(zip(heads.agent_ids, roles, explicit, strict=True)):
        step_id, source = _default_id(agent, role, given, shared)
        if step_id is None and agent is not None and given is False:
            reader.add(
                "missing_field",
                f"/agents/{i}/id",
                f"agent {agent!r} runs in several steps: give each an id",
            )
        heads.ids.append(step_id)
        if step_id is None:
            continue
        if step_id in heads.index:
            reader.add(
                "duplicate_id",
                f"/agents/{i}/{source}",
                f"id {step_id!r} is already used by /agents/{heads.index[step_id]}",
            )
            continue
        heads.index[step_id] = i
        heads.labels[step_id] = role or step_id
        if agent is not None:
            heads.by_agent.setdefault(agent, []).append(step_id)
    return heads


def _default_id(
    agent: str | None, role: str | None, given: str | bool | None, shared: Counter[str]
) -> tuple[str | None, str]:
    if given is not False:
        return (given if isinstance(given, str) else None), "id"
    if agent is not None and shared[agent] == 1:
        return agent, "agent_id"
    if role is not None and len(role) <= LIMITS.max_id_chars and ID_PATTERN.fullmatch(role):
        return role, "role"
    return None, "id"
