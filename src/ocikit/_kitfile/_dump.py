"""A Kitfile as plain values in the YAML shape, and as YAML text the way kit writes it.

``to_dict`` is the Kitfile YAML shape: Go struct order, empty fields omitted (``omitempty``),
parameter maps sorted by key (a Go ``map``), no digests. ``to_yaml`` dumps it like kit's
``MarshalToYAML`` (yaml.v3): indent 2, sequences indented under their key, ``authors`` in flow style,
strings quoted when yaml.v3 would read them back as something else. The element helpers here are
shared with the config blob writer (``_config_json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from ocikit._kitfile._elements import Code, DataSet, KitfileContent, ModelPart
from ocikit._kitfile._scalars import STD, resolve_plain

__all__ = ["agent_sections", "code_dict", "dataset_dict", "omit", "part_dict", "sorted_value", "to_dict", "to_yaml"]


def to_dict(kitfile: KitfileContent) -> dict[str, Any]:
    """The Kitfile YAML shape (struct order, empty fields omitted, parameter maps sorted, no digests)."""
    out: dict[str, Any] = {}
    if kitfile.manifest_version is not None:
        out["manifestVersion"] = kitfile.manifest_version
    pkg = omit({"name": kitfile.package.name, "version": kitfile.package.version,
                 "description": kitfile.package.description, "license": kitfile.package.license,
                 "authors": list(kitfile.package.authors)})
    if pkg:
        out["package"] = pkg
    if kitfile.model is not None:
        m = kitfile.model
        out["model"] = omit({
            "name": m.name, "path": m.path, "license": m.license, "framework": m.framework,
            "format": m.format, "version": m.version, "description": m.description,
            "parts": [part_dict(p) for p in m.parts],
        })
        if m.parameters is not None:
            out["model"]["parameters"] = sorted_value(m.parameters)
    if kitfile.code:
        out["code"] = [code_dict(c) for c in kitfile.code]
    if kitfile.datasets:
        ds = []
        for d in kitfile.datasets:
            item = dataset_dict(d)
            if d.parameters is not None:
                item["parameters"] = sorted_value(d.parameters)
            ds.append(item)
        out["datasets"] = ds
    if kitfile.docs:
        out["docs"] = [omit({"path": d.path, "description": d.description}) for d in kitfile.docs]
    out.update(agent_sections(kitfile))
    return out


def dataset_dict(d: DataSet) -> dict[str, Any]:
    """A dataset's fields in kit's struct order (name, path, remotePath, remoteHash, description, license)."""
    return omit({"name": d.name, "path": d.path, "remotePath": d.remote_path, "remoteHash": d.remote_hash,
                 "description": d.description, "license": d.license})


def agent_sections(kitfile: KitfileContent) -> dict[str, Any]:
    """kit 1.17's ``prompts`` and ``mcpServers`` (after ``docs``, each element name, path, description)."""
    out: dict[str, Any] = {}
    if kitfile.prompts:
        out["prompts"] = [omit({"name": p.name, "path": p.path, "description": p.description}) for p in kitfile.prompts]
    if kitfile.mcp_servers:
        out["mcpServers"] = [omit({"name": m.name, "path": m.path, "description": m.description})
                             for m in kitfile.mcp_servers]
    return out


def to_yaml(kitfile: KitfileContent) -> str:
    """YAML the way kit's ``MarshalToYAML`` writes it: indent 2, struct order, ``authors`` in flow style."""
    data = to_dict(kitfile)
    if "package" in data and "authors" in data["package"]:
        data["package"]["authors"] = _FlowList(data["package"]["authors"])
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30, indent=2)


def part_dict(p: ModelPart) -> dict[str, Any]:
    return omit({"name": p.name, "path": p.path, "license": p.license, "type": p.type})


def code_dict(c: Code) -> dict[str, Any]:
    return omit({"path": c.path, "description": c.description, "license": c.license})


def omit(d: dict[str, Any]) -> dict[str, Any]:
    """Go ``omitempty``: drop None, "" and empty lists."""
    return {k: v for k, v in d.items() if v is not None and v != "" and v != []}


def sorted_value(value: Any) -> Any:
    """Maps sorted by key, recursively: Go marshals a ``map`` that way (``parameters`` are maps)."""
    if isinstance(value, Mapping):
        return {k: sorted_value(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [sorted_value(x) for x in value]
    return value


class _FlowList(list[Any]):
    """A list written in flow style (``authors: [a, b]``)."""


class _Dumper(yaml.SafeDumper):
    """yaml.v3-like output: sequences indented under their key, strings quoted when yaml.v3 would
    read them as something else."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style: str | None = None
    if "\n" in value:
        style = "|"
    elif value and not isinstance(resolve_plain(value), str):
        style = "'"
    elif value in ("y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"):
        style = "'"  # YAML 1.1 readers (kit's yaml.v3 quotes them too)
    return dumper.represent_scalar(f"{STD}str", value, style=style)


def _represent_flow(dumper: yaml.SafeDumper, value: _FlowList) -> yaml.Node:
    return dumper.represent_sequence(f"{STD}seq", value, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_FlowList, _represent_flow)
