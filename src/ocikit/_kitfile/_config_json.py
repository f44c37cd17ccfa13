"""The Kitfile as the ModelKit config blob: ``json.Marshal(KitFile)`` as kit writes it, and back.

Written byte-compatible with ``kit`` (``docs/compatibility.md`` §2.1, §2.2): Go struct key order,
``omitempty`` rules, ``package`` always present, ``docs[].path`` always present, per-element
``digest``/``diffId`` last, parameter maps sorted by key, Go float formatting (``_oci._gojson``).
Read leniently as Go's ``json.Unmarshal`` does (unknown keys ignored), known keys type-checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ocikit._io._digest import Digest
from ocikit._kitfile._dump import agent_sections, code_dict, dataset_dict, omit, part_dict, sorted_value
from ocikit._kitfile._elements import KitfileContent, LayerInfo
from ocikit._kitfile._schema import schema_props
from ocikit._kitfile._yaml import MAX_KITFILE_BYTES, too_big, value_kind
from ocikit._oci._gojson import go_json
from ocikit.errors import KitfileError

__all__ = ["read_config", "write_config"]

_SOURCE = "config"


def write_config(kitfile: KitfileContent, layer_infos: Mapping[tuple[str, int], LayerInfo]) -> bytes:
    """The config blob with the digests of the layers in ``layer_infos`` (keyed by section and index)."""
    infos = dict(layer_infos)
    known = {(e.section, e.index) for e in kitfile.layer_elements()}
    unknown = set(infos) - known
    if unknown:
        raise ValueError(f"layer_infos name elements that are not layers: {sorted(unknown)}")

    def with_info(obj: dict[str, Any], key: tuple[str, int]) -> dict[str, Any]:
        info = infos.get(key)
        if info is not None:
            obj["digest"] = str(info.digest)
            obj["diffId"] = str(info.diff_id)
        return obj

    pkg = kitfile.package
    out: dict[str, Any] = {"manifestVersion": kitfile.manifest_version or ""}
    out["package"] = omit({"name": pkg.name, "version": pkg.version, "description": pkg.description,
                           "license": pkg.license, "authors": list(pkg.authors)})
    if kitfile.model is not None:
        m = kitfile.model
        md = omit({"name": m.name, "path": m.path, "license": m.license, "framework": m.framework,
                   "format": m.format, "version": m.version, "description": m.description})
        if m.parts:
            md["parts"] = [with_info(part_dict(p), ("parts", i)) for i, p in enumerate(m.parts)]
        if m.parameters is not None:
            md["parameters"] = sorted_value(m.parameters)
        out["model"] = with_info(md, ("model", 0))
    if kitfile.code:
        out["code"] = [with_info(code_dict(c), ("code", i)) for i, c in enumerate(kitfile.code)]
    if kitfile.datasets:
        ds = []
        for i, d in enumerate(kitfile.datasets):
            item = dataset_dict(d)
            if d.parameters is not None:
                item["parameters"] = sorted_value(d.parameters)
            ds.append(with_info(item, ("datasets", i)))
        out["datasets"] = ds
    if kitfile.docs:
        # Docs.Path has no omitempty in kit's struct: always present.
        out["docs"] = [with_info({"path": d.path or "", **omit({"description": d.description})}, ("docs", i))
                       for i, d in enumerate(kitfile.docs)]
    for section, elements in agent_sections(kitfile).items():  # prompts, mcpServers (kit 1.17)
        out[section] = [with_info(e, (section, i)) for i, e in enumerate(elements)]
    return go_json(out)


def read_config(data: bytes) -> tuple[dict[str, Any], dict[tuple[str, int], LayerInfo]]:
    """A config blob (kit's or ours) as a Kitfile-shaped dict (known keys only) and its layer digests."""
    obj = _parse(data)
    props = schema_props()
    infos: dict[tuple[str, int], LayerInfo] = {}

    def pick(value: Any, allowed: tuple[str, ...], where: str, key: tuple[str, int] | None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise KitfileError(f"{_SOURCE}: {where}: expected an object, got {value_kind(value)}")
        if key is not None and value.get("digest") is not None:
            digest = _digest(value["digest"], f"{where}.digest")
            diff = value.get("diffId")
            infos[key] = LayerInfo(digest, _digest(diff, f"{where}.diffId") if diff is not None else digest)
        return {k: value[k] for k in allowed if k in value}

    raw: dict[str, Any] = {}
    if "manifestVersion" in obj:
        raw["manifestVersion"] = obj["manifestVersion"]
    if obj.get("package") is not None:
        raw["package"] = pick(obj["package"], props["package"], "package", None)
    if obj.get("model") is not None:
        model = pick(obj["model"], props["model"], "model", ("model", 0))
        if model.get("parts") is not None:
            model["parts"] = [pick(p, props["parts"], f"model.parts[{i}]", ("parts", i))
                              for i, p in enumerate(_list(model["parts"], "model.parts"))]
        raw["model"] = model
    for section in ("code", "datasets", "docs", "prompts", "mcpServers"):
        if obj.get(section) is not None:
            raw[section] = [pick(e, props[section], f"{section}[{i}]", (section, i))
                            for i, e in enumerate(_list(obj[section], section))]
    return raw, infos


def _parse(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_KITFILE_BYTES:
        raise too_big(_SOURCE)

    def no_constants(name: str) -> Any:
        raise KitfileError(f"{_SOURCE}: invalid JSON number {name}")

    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # RecursionError: absurd nesting
        raise KitfileError(f"{_SOURCE}: the config blob is not valid JSON: {str(e)[:200]}",
                           hint="the ModelKit config is corrupt or not a KitOps config") from e
    if not isinstance(obj, dict):
        raise KitfileError(f"{_SOURCE}: the config must be a JSON object, got {value_kind(obj)}")
    return obj


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise KitfileError(f"{_SOURCE}: {where}: expected a list, got {value_kind(value)}")
    return value


def _digest(value: Any, where: str) -> Digest:
    if not isinstance(value, str) or not Digest.is_valid(value):
        raise KitfileError(f"{_SOURCE}: {where}: invalid digest {str(value)[:80]!r}",
                           hint="the ModelKit config is corrupt or hostile")
    return Digest.parse(value)
