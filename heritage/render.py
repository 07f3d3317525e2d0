"""Text views of a result: the summary and family trees the CLI prints."""

from __future__ import annotations

from heritage.result import FamilyRecord, HeritageResult


def summary(result: HeritageResult) -> str:
    params = result.run.get("params", {})
    assert isinstance(params, dict)
    lines = [
        f"{len(result.models)} models in {len(result.families)} families, {len(result.edges)} parent edges, "
        f"{len(result.rejected)} rejected  (metric {params.get('metric')}, clustering {params.get('clustering')}, "
        f"tree {params.get('tree')})"
    ]
    for family in result.families:
        lines.append("")
        lines.extend(family_tree(result, family))
    if result.rejected:
        lines.append("")
        lines.append("Rejected:")
        lines.extend(f"  {r.id}: [{r.kind}] {r.reason}" for r in result.rejected)
    return "\n".join(lines)


def family_tree(result: HeritageResult, family: FamilyRecord) -> list[str]:
    """The family's tree drawn with box characters, children sorted by id."""
    children: dict[str, list[tuple[str, float, float]]] = {}
    for e in result.edges:
        if e.child in family.members:
            children.setdefault(e.parent, []).append((e.child, e.distance, e.confidence))
    order = "higher" if family.sign > 0 else "lower"
    lines = [f"{family.id}  {len(family.members)} models  metric {family.metric}  direction: parents have "
             f"{order} {family.direction} (from {family.sign_source})  "
             f"mean confidence {family.stats.get('mean_confidence', 0.0):.2f}",
             f"  {family.root}"]

    def walk(node: str, indent: str) -> None:
        kids = sorted(children.get(node, []))
        for pos, (child, distance, confidence) in enumerate(kids):
            last = pos == len(kids) - 1
            lines.append(f"  {indent}{'└── ' if last else '├── '}{child}  (d={distance:.4g}, conf {confidence:.2f})")
            walk(child, indent + ("    " if last else "│   "))

    walk(family.root, "")
    return lines
