"""Turn an object built for Kustomize into Helm template text, field by field.

yaml.safe_dump cannot write a Helm template: it quotes `{{ ... }}` (so `replicas: '{{ 2 }}'`
would render as a string) and has no way to write a directive that is no YAML at all (`{{- if }}`,
a `toYaml ... | nindent` block). So a field that the chart's values set gets a plain placeholder
(`helm-fill-3`) in the object, the object is dumped as usual, and `Fills.render` puts the Helm
text where each placeholder landed, at the indentation YAML gave it.
"""

import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml

PLACEHOLDER = re.compile(r"helm-fill-(\d+)\b")


@dataclass(frozen=True)
class Fill:
    kind: Literal["value", "block", "splice"]
    expression: str
    when: str | None  # the line is written only when this Helm condition holds
    as_yaml: bool = True  # splice: toYaml the expression (else it is template text already)


class Fills:
    """The Helm expressions of one template file, in the order the objects asked for them."""

    def __init__(self) -> None:
        self._fills: list[Fill] = []

    def value(self, expression: str, when: str | None = None) -> str:
        """A scalar: `key: {{ expression }}` (quote strings in the expression: `| quote`)."""
        return self._add(Fill("value", expression, when))

    def block(self, expression: str, when: str | None = None) -> str:
        """A map or list from the values, written as YAML under its key."""
        return self._add(Fill("block", expression, when))

    def splice(self, expression: str, *, as_yaml: bool = True) -> str:
        """Entries (a dict key, value None) or items (a list item) from the values, spliced into
        their parent; nothing when the expression is empty."""
        return self._add(Fill("splice", expression, None, as_yaml))

    def _add(self, fill: Fill) -> str:
        self._fills.append(fill)
        return f"helm-fill-{len(self._fills) - 1}"

    def render(self, text: str) -> str:
        """Dumped YAML with every placeholder replaced by its Helm text."""
        return "\n".join(self._render_line(line) for line in text.split("\n"))

    def _render_line(self, line: str) -> str:
        found = PLACEHOLDER.findall(line)
        if not found:
            return line
        assert len(found) == 1, f"one Helm expression per line: {line!r}"
        fill = self._fills[int(found[0])]
        indent = len(line) - len(line.lstrip(" "))
        before, after = PLACEHOLDER.split(line, maxsplit=1)[::2]
        if fill.kind == "value":
            text = f"{before}{{{{ {fill.expression} }}}}{after}"
        elif fill.kind == "block":
            # `key: {{- toYaml x | nindent N }}`: the dash eats the space after the colon, and
            # the block starts on the next line, two columns in from the key.
            key_column = indent + (2 if before.lstrip(" ").startswith("- ") else 0)
            text = (
                f"{before.rstrip()} {{{{- toYaml {fill.expression} | nindent {key_column + 2} }}}}"
            )
        else:
            # `- helm-fill-N` (an item) or `helm-fill-N: null` (an entry): both at this column.
            pad = " " * indent
            if fill.as_yaml:
                splice = f"{{{{ toYaml . | nindent {indent} }}}}"
                text = f"{pad}{{{{- with {fill.expression} }}}}{splice}{{{{- end }}}}"
            else:
                text = f"{pad}{{{{- {fill.expression} | nindent {indent} }}}}"
        return _only_when(fill.when, text, indent) if fill.when else text


def _only_when(condition: str, text: str, indent: int) -> str:
    pad = " " * indent
    return f"{pad}{{{{- if {condition} }}}}\n{text}\n{pad}{{{{- end }}}}"


class _NoAliases(yaml.SafeDumper):
    """Writes a dict that two fields share (the probes' httpGet) twice, not as `&id001`."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(obj: dict[str, Any]) -> str:
    return yaml.dump(obj, Dumper=_NoAliases, sort_keys=False, default_flow_style=False, width=100)
