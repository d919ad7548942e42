"""A flow's steps drawn as an SVG picture for the editor: a box per step, in layers by distance from the start
step (breadth first; steps no step leads to come last), and an arrow per way from one step to another, labelled
with what takes it (a choice's title, a rule, "on error"). Every text is escaped: names and titles are written
by people and may hold markup."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from flows.definitions import steps_by_id, targets
from flows.forms import OPERATOR_LABELS, SUBJECT_LABELS, TYPE_LABELS

BOX_W = 190
BOX_H = 54
GAP_X = 36
GAP_Y = 76
MARGIN = 24
# Wider than this many characters, a text is cut with an ellipsis (the whole text is the box's tooltip).
NAME_CHARS = 26
LABEL_CHARS = 22
CHAR_W = 6.4


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    field: str
    label: str


@dataclass(frozen=True)
class Box:
    step: str
    name: str
    kind: str
    layer: int
    x: float
    y: float


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rule_label(rule: Mapping[str, Any]) -> str:
    found = rule.get("if")
    condition: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    subject = str(condition.get("subject") or "")
    op = str(condition.get("op") or "")
    name = str(condition.get("name") or "")
    value = condition.get("value")
    parts = [name or str(SUBJECT_LABELS.get(subject, subject))]
    parts.append(str(OPERATOR_LABELS.get(op, op)))
    if value not in (None, "") and op not in ("exists", "open", "closed", "ok", "error"):
        parts.append(str(value))
    return " ".join(p for p in parts if p)


def edge_label(step: Mapping[str, Any], field: str) -> str:
    """What takes the customer from ``step`` along ``field`` (as ``definitions.targets`` names it)."""
    if field.startswith("choices["):
        index = int(field[len("choices[") : field.index("]")])
        choice = (step.get("choices") or [])[index]
        return str(choice.get("title") or choice.get("id") or "")
    if field.startswith("rules["):
        index = int(field[len("rules[") : field.index("]")])
        return _rule_label((step.get("rules") or [])[index])
    labels = {
        "on_fail": _("after the retries"),
        "on_timeout": _("not paid in time"),
        "on_error": _("on error"),
        "default": _("otherwise"),
    }
    if field == "next" and step.get("type") == "payment":
        return pgettext("flow diagram", "paid")
    return str(labels.get(field, ""))


def flow_graph(definition: Mapping[str, Any]) -> tuple[list[list[str]], list[Edge]]:
    """The steps in layers (breadth first from the start; the rest after) and the ways between them (only to
    steps that exist)."""
    by_id = steps_by_id(definition)
    edges = [
        Edge(sid, target, field, edge_label(step, field))
        for sid, step in by_id.items()
        for field, target in targets(step)
        if target in by_id
    ]
    layer_of: dict[str, int] = {}
    start = definition.get("start") if isinstance(definition, Mapping) else None
    roots = [start] if isinstance(start, str) and start in by_id else []
    roots += [sid for sid in by_id if sid not in roots]
    depth = 0
    for root in roots:
        if root in layer_of:
            continue
        queue = deque([(root, depth)])
        layer_of[root] = depth
        while queue:
            sid, level = queue.popleft()
            depth = max(depth, level + 1)
            for _field, target in targets(by_id[sid]):
                if target in by_id and target not in layer_of:
                    layer_of[target] = level + 1
                    queue.append((target, level + 1))
    layers: list[list[str]] = [[] for _ in range(max(layer_of.values(), default=-1) + 1)]
    for sid in by_id:
        layers[layer_of[sid]].append(sid)
    return [layer for layer in layers if layer], edges


def _boxes(definition: Mapping[str, Any], layers: list[list[str]]) -> tuple[dict[str, Box], float, float]:
    by_id = steps_by_id(definition)
    widest = max((len(layer) for layer in layers), default=1)
    width = MARGIN * 2 + widest * BOX_W + (widest - 1) * GAP_X
    boxes: dict[str, Box] = {}
    for level, layer in enumerate(layers):
        row_width = len(layer) * BOX_W + (len(layer) - 1) * GAP_X
        left = (width - row_width) / 2
        for index, sid in enumerate(layer):
            step = by_id[sid]
            boxes[sid] = Box(
                step=sid,
                name=str(step.get("name") or ""),
                kind=str(step.get("type") or ""),
                layer=level,
                x=left + index * (BOX_W + GAP_X),
                y=MARGIN + level * (BOX_H + GAP_Y),
            )
    height = MARGIN * 2 + len(layers) * BOX_H + max(len(layers) - 1, 0) * GAP_Y
    return boxes, width + BOX_W / 2, height


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _attrs(**values: Any) -> str:
    return " ".join(f'{name.rstrip("_").replace("_", "-")}="{escape(str(value))}"' for name, value in values.items())


def flow_diagram(definition: Mapping[str, Any], *, link_prefix: str = "step-") -> SafeString:
    """The flow as inline SVG. Each box links to ``#<link_prefix><step id>`` (the step's card on the page)."""
    layers, edges = flow_graph(definition)
    if not layers:
        return mark_safe("")
    boxes, width, height = _boxes(definition, layers)
    start = definition.get("start")
    title = _("Diagram of the flow")
    out = [
        f"<svg {_attrs(xmlns='http://www.w3.org/2000/svg', class_='flow-diagram', role='img')} "
        f"{_attrs(viewBox=f'0 0 {_num(width)} {_num(height)}', width=_num(width), height=_num(height))} "
        f'aria-labelledby="flow-diagram-title">',
        f'<title id="flow-diagram-title">{escape(title)}</title>',
        '<defs><marker id="flow-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>',
    ]
    outgoing: dict[str, list[Edge]] = {}
    for edge in edges:
        outgoing.setdefault(edge.source, []).append(edge)
    for edge in edges:
        out.append(_edge_svg(edge, boxes, outgoing[edge.source].index(edge), len(outgoing[edge.source])))
    for sid, box in boxes.items():
        kind = str(TYPE_LABELS.get(box.kind, box.kind))
        title = f"{box.name} ({kind}, {sid})" if box.name else f"{kind}, {sid}"
        classes = f"flow-node flow-node-{box.kind}" + (" flow-node-start" if sid == start else "")
        out.append(
            f"<g {_attrs(class_=classes, data_step=sid)}>"
            f"<title>{escape(title)}</title>"
            f"<a {_attrs(href=f'#{link_prefix}{sid}')}>"
            f"<rect {_attrs(x=_num(box.x), y=_num(box.y), width=BOX_W, height=BOX_H, rx=8)} "
            f'fill="#ffffff" stroke="{"#1f6feb" if sid == start else "#8c959f"}" '
            f'stroke-width="{2 if sid == start else 1}"/>'
            f'<text {_attrs(x=_num(box.x + 10), y=_num(box.y + 22))} font-size="13" font-weight="600" '
            f'fill="#1f2328">{escape(_cut(box.name or sid, NAME_CHARS))}</text>'
            f'<text {_attrs(x=_num(box.x + 10), y=_num(box.y + 41))} font-size="11" fill="#57606a">'
            f"{escape(_cut(kind, NAME_CHARS))}</text>"
            "</a></g>"
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every text in it is escaped


def _edge_svg(edge: Edge, boxes: Mapping[str, Box], index: int, count: int) -> str:
    source, target = boxes[edge.source], boxes[edge.target]
    # Ways out of one box leave from points spread along its bottom edge.
    sx = source.x + BOX_W * (index + 1) / (count + 1)
    sy = source.y + BOX_H
    if target.layer > source.layer:
        tx, ty = target.x + BOX_W / 2, target.y
        path = f"M{_num(sx)},{_num(sy)} C{_num(sx)},{_num(sy + GAP_Y / 2)} {_num(tx)},{_num(ty - GAP_Y / 2)} "
        path += f"{_num(tx)},{_num(ty)}"
        lx, ly = (sx + tx) / 2, (sy + ty) / 2
    else:
        # Back to an earlier step (or one beside): around the right of both boxes.
        sx, sy = source.x + BOX_W, source.y + BOX_H / 2
        tx, ty = target.x + BOX_W, target.y + BOX_H / 2
        bend = max(sx, tx) + GAP_X + 12 * index
        path = f"M{_num(sx)},{_num(sy)} C{_num(bend)},{_num(sy)} {_num(bend)},{_num(ty)} {_num(tx)},{_num(ty)}"
        lx, ly = bend - 8, (sy + ty) / 2
    parts = [
        f"<g {_attrs(class_='flow-edge', data_from=edge.source, data_to=edge.target, data_label=edge.label)}>",
        f'<path d="{path}" fill="none" stroke="#8c959f" stroke-width="1.4" marker-end="url(#flow-arrow)"/>',
    ]
    if edge.label:
        shown = _cut(edge.label, LABEL_CHARS)
        box_w = len(shown) * CHAR_W + 8
        parts.append(
            f"<rect {_attrs(x=_num(lx - box_w / 2), y=_num(ly - 9), width=_num(box_w), height=16, rx=3)} "
            'fill="#f6f8fa" stroke="#d0d7de"/>'
            f'<text {_attrs(x=_num(lx), y=_num(ly + 3))} font-size="11" text-anchor="middle" fill="#1f2328">'
            f"{escape(shown)}</text>"
        )
    parts.append("</g>")
    return "".join(parts)
