"""YAML with line numbers: the data plus a map from key paths to 1-based lines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class YamlError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


Path = tuple[Any, ...]


def load(text: str, first_line: int = 1) -> tuple[Any, dict[Path, int]]:
    """Parse YAML; return (data, lines) where lines maps key paths (str keys, int indices) to the
    line of that key or item. `first_line` is the file line of the text's first line."""
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise YamlError(first_line, "bad YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = (mark.line if mark else 0) + first_line
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        msg = f"bad YAML: {problem}" + (f" ({context})" if context else "")
        raise YamlError(line, msg) from None
    lines: dict[Path, int] = {(): first_line}
    if node is not None:
        lines[()] = node.start_mark.line + first_line
        _walk(node, (), lines, first_line, set(), set())
    return data, lines


def _walk(
    node: yaml.Node, path: Path, lines: dict[Path, int], off: int, seen: set, stack: set
) -> None:
    """Record key lines; an alias is walked once (no blow-up), and one that contains itself
    is refused (the data would be infinitely deep)."""
    if id(node) in stack:
        raise YamlError(node.start_mark.line + off, "bad YAML: an alias refers to itself")
    if id(node) in seen or not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        return
    seen.add(id(node))
    stack.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                p = (*path, key.value)
                lines[p] = key.start_mark.line + off
                _walk(value, p, lines, off, seen, stack)
    else:
        for i, item in enumerate(node.value):
            p = (*path, i)
            lines[p] = item.start_mark.line + off
            _walk(item, p, lines, off, seen, stack)
    stack.discard(id(node))


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_key_path(text: str) -> Path:
    """`questions[3].options[1].feedback` -> ("questions", 3, "options", 1, "feedback")."""
    out: list[Any] = []
    for name, index in _PART.findall(text):
        out.append(int(index) if index else name)
    return tuple(out)


def line_of(lines: dict[Path, int], path: Path) -> int:
    """The line of the deepest prefix of `path` that exists in the file."""
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return lines.get((), 1)


def line_for_message(lines: dict[Path, int], message: str, prefix: Path = ()) -> int:
    """Line for a validator message `key.path: problem` (relative to `prefix`)."""
    head = message.split(": ", 1)[0] if ": " in message else ""
    if head.startswith("("):
        return line_of(lines, prefix)
    return line_of(lines, (*prefix, *parse_key_path(head)))
