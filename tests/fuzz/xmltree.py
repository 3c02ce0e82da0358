"""A small element tree for generated documents: immutable nodes, paths, edits, rendering.

Generated ITMATT and XML feed documents are built as `Node` trees so that mutations (drop,
duplicate, reorder, rename, set a value …) are generic edits at a path, then rendered one
element a line, as posts write them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from html import escape

Path = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Node:
    tag: str
    text: str | None = None
    attrs: tuple[tuple[str, str], ...] = ()
    children: tuple[Node, ...] = ()

    def with_attr(self, name: str, value: str | None) -> Node:
        """The node with attribute `name` set to `value` (None: removed)."""
        kept = tuple((k, v) for k, v in self.attrs if k != name)
        return replace(self, attrs=kept if value is None else (*kept, (name, value)))


def leaf(tag: str, text: str, **attrs: str) -> Node:
    return Node(tag, text, tuple(attrs.items()))


def walk(node: Node, path: Path = ()) -> Iterator[tuple[Path, Node]]:
    """Every node with its path (child indexes from the root), the root first."""
    yield path, node
    for index, child in enumerate(node.children):
        yield from walk(child, (*path, index))


def at(node: Node, path: Path) -> Node:
    for index in path:
        node = node.children[index]
    return node


def edit(node: Node, path: Path, change: Callable[[Node], tuple[Node, ...]]) -> Node:
    """The tree with the node at `path` (not the root) replaced by `change(node)` (0..n nodes)."""
    head, rest = path[0], path[1:]
    children = list(node.children)
    if rest:
        children[head] = edit(children[head], rest, change)
    else:
        children[head : head + 1] = change(children[head])
    return replace(node, children=tuple(children))


def edit_node(node: Node, path: Path, change: Callable[[Node], Node]) -> Node:
    """The tree with the node at `path` (the root too) replaced by `change(node)`."""
    if not path:
        return change(node)
    return edit(node, path, lambda n: (change(n),))


def render(root: Node, *, namespace: str | None, declaration: bool = True) -> str:
    """The document as text, one element a line; `namespace` is the root's default namespace."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>'] if declaration else []
    _render(root, 0, lines, namespace)
    lines.append("")
    return "\n".join(lines)


def _render(node: Node, depth: int, lines: list[str], namespace: str | None) -> None:
    pad = "  " * depth
    attrs = "".join(f' {k}="{escape(v)}"' for k, v in node.attrs)
    if namespace is not None:
        attrs = f' xmlns="{escape(namespace)}"' + attrs
    text = escape(node.text, quote=False) if node.text is not None else ""
    if not node.children:
        lines.append(f"{pad}<{node.tag}{attrs}>{text}</{node.tag}>")
        return
    lines.append(f"{pad}<{node.tag}{attrs}>{text}")
    for child in node.children:
        _render(child, depth + 1, lines, None)
    lines.append(f"{pad}</{node.tag}>")
