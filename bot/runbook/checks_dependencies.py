"""Cross-references of depends_on: steps and gates that exist, and no ring of steps waiting on each other."""

from __future__ import annotations

from collections.abc import Iterator

from bot.runbook.findings import Finding, Loc, steps_with_locs, unknown
from bot.runbook.models import Runbook, Step


def dependency_findings(rb: Runbook) -> Iterator[Finding]:
    known = [step.id for step in rb.steps()] + [gate.id for gate in rb.gates]
    for loc, step in steps_with_locs(rb):
        for i, ref in enumerate(step.depends_on):
            if ref == step.id:
                yield Finding((*loc, "depends_on", i), f"step {step.id} cannot depend on itself")
            elif ref not in known:
                yield Finding((*loc, "depends_on", i), unknown("step or gate", ref, known, n=3))


def dependency_cycle_findings(rb: Runbook) -> Iterator[Finding]:
    """Steps that wait on each other in a ring can never run; one finding per ring, at its first step."""
    where: dict[str, tuple[Loc, Step]] = {}
    after: dict[str, list[str]] = {}
    for loc, step in steps_with_locs(rb):
        if step.id not in where:  # a duplicate id is reported on its own; the first one counts, as in rb.step
            where[step.id] = (loc, step)
            after[step.id] = [ref for ref in step.depends_on if ref != step.id]  # self: reported on its own
    reported: set[str] = set()
    for start in where:
        if start in reported:
            continue
        ring = _shortest_cycle(start, after)
        if ring is None:
            continue
        reported |= _reachable(start, after) & _reachable(start, _reversed(after))
        loc, step = where[start]
        yield Finding(
            (*loc, "depends_on", step.depends_on.index(ring[1])),
            f"depends_on makes a cycle: {' → '.join(ring)}; none of these steps could ever run, "
            "so remove one of the dependencies",
        )


def _shortest_cycle(start: str, after: dict[str, list[str]]) -> list[str] | None:
    """start → ... → start by breadth-first search, or None when no path leads back."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for ref in after.get(node, []):
                if ref == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if ref in after and ref not in came_from:
                    came_from[ref] = node
                    following.append(ref)
        frontier = following
    return None


def _reachable(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for ref in edges.get(stack.pop(), []):
            if ref not in seen:
                seen.add(ref)
                stack.append(ref)
    return seen


def _reversed(edges: dict[str, list[str]]) -> dict[str, list[str]]:
    back: dict[str, list[str]] = {node: [] for node in edges}
    for node, refs in edges.items():
        for ref in refs:
            back.setdefault(ref, []).append(node)
    return back
