"""Dependencies between steps, topological order and cycles, shared by validation and planning.

A step's dependencies are the steps that must have *settled* (finished, one way
or another) before it may start:

- in `sequential`, the step before it;
- in `dag`, the steps of its `depends_on`;
- in every type, the steps whose result its input reads (its *needs*: without
  their result the step is skipped) and the steps its conditions read (a
  condition is evaluated only once what it reads is final).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

from dsl.model import (
    AllOf,
    AnyOf,
    CombinedInput,
    Compare,
    Condition,
    InputSpec,
    NotOf,
    PromptInput,
    ResultInput,
    Step,
    TemplateInput,
    Workflow,
    WorkflowGraph,
    WorkflowType,
)

__all__ = ["condition_refs", "cycles", "derive", "graph_of", "input_refs", "topological_order"]


def input_refs(spec: InputSpec) -> list[str]:
    """Steps whose result the input reads, in order of appearance, without repeats."""
    if isinstance(spec, PromptInput):
        return []
    if isinstance(spec, ResultInput):
        return [spec.step]
    refs: list[str] = []
    if isinstance(spec, CombinedInput):
        refs = [source.step for source in spec.sources if source.step is not None]
    elif isinstance(spec, TemplateInput):
        refs = [p.path[1] for p in spec.parts if p.path is not None and p.path[0] == "results"]
    return list(dict.fromkeys(refs))


def condition_refs(conditions: Iterable[Condition]) -> list[str]:
    """Steps the conditions read, in order of appearance, without repeats."""
    refs: dict[str, None] = {}
    stack = list(conditions)[::-1]
    while stack:
        node = stack.pop()
        if isinstance(node, Compare):
            if len(node.path) > 1 and node.path[0] == "results":
                refs[node.path[1]] = None
        elif isinstance(node, AllOf | AnyOf):
            stack.extend(reversed(node.items))
        elif isinstance(node, NotOf):
            stack.append(node.item)
    return list(refs)


def graph_of(workflow: Workflow) -> WorkflowGraph:
    """The workflow's graph: the one `load()` derived if it still fits, else a fresh one."""
    graph = workflow.graph
    if graph is not None and graph.steps is workflow.steps and graph.type == workflow.type:
        return graph
    return derive(workflow.type, workflow.steps)


def derive(kind: WorkflowType, steps: tuple[Step, ...]) -> WorkflowGraph:
    """Dependencies, needs and a topological order of the steps."""
    pairs = edges(kind, steps)
    index = {step.id: i for i, step in enumerate(steps)}
    order = topological_order([[index[dep] for dep in deps] for deps, _ in pairs])
    return WorkflowGraph(kind, steps, tuple(pairs), tuple(order))


def edges(
    kind: WorkflowType, steps: Sequence[Step]
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """For each step in declaration order: (dependencies, needs), both in declaration order.

    References to steps the workflow does not have are left out.
    """
    index = {step.id: i for i, step in enumerate(steps)}
    known = index.keys()
    rank = index.__getitem__
    previous = None
    result: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    for step in steps:
        needs = input_refs(step.input)
        deps = set(needs)
        if step.depends_on:
            deps.update(step.depends_on)
        if step.conditions:
            deps.update(condition_refs(step.conditions))
        if previous is not None:
            deps.add(previous)
        deps.discard(step.id)
        if not deps <= known:
            deps &= known
            needs = [need for need in needs if need in index]
        result.append((tuple(sorted(deps, key=rank)), tuple(sorted(needs, key=rank))))
        if kind == "sequential":
            previous = step.id
    return result


def topological_order(deps: Sequence[Iterable[int]]) -> list[int]:
    """Indices ordered so that dependencies come first, ties by index (stable, deterministic).

    Steps on a cycle, and steps after them, are left out.
    """
    count = len(deps)
    waiting = [0] * count
    dependants: list[list[int]] = [[] for _ in range(count)]
    for i, node_deps in enumerate(deps):
        for dep in node_deps:
            waiting[i] += 1
            dependants[dep].append(i)
    ready = [i for i in range(count) if waiting[i] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for dependant in dependants[node]:
            waiting[dependant] -= 1
            if waiting[dependant] == 0:
                heapq.heappush(ready, dependant)
    return order


def cycles(deps: Sequence[Sequence[int]]) -> list[list[int]]:
    """Every cycle of two or more nodes, as one path each (strongly connected components).

    Iterative Tarjan; components and the path in each are reported in index order.
    """
    count = len(deps)
    order, low = [-1] * count, [0] * count
    on_stack, stack, found, counter = [False] * count, [], [], 0
    for root in range(count):
        if order[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            node, pos = work.pop()
            if pos == 0:
                order[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            if pos < len(deps[node]):
                work.append((node, pos + 1))
                nxt = deps[node][pos]
                if order[nxt] == -1:
                    work.append((nxt, 0))
                elif on_stack[nxt]:
                    low[node] = min(low[node], order[nxt])
                continue
            if low[node] == order[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(found)
