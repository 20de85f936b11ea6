"""A small kustomize for the tests: enough of it to render deploy/k8s without kubectl.

Supports what deploy/k8s uses and nothing more: `resources` (files and directories holding a
kustomization.yaml), `patches` given by `path` (strategic merge by kind and name), and `images`
(newName/newTag). Anything else in a kustomization is an error here, so a new feature in the
manifests cannot be silently ignored. Where kubectl is installed the tests also compare this
output with `kubectl kustomize`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

KNOWN = {"apiVersion", "kind", "resources", "patches", "images"}
# Strategic merge keys of the lists deploy/k8s patches (the Kubernetes API's patchMergeKey).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumes": "name",
}


def merge(base: Any, patch: Any, key: str = "") -> Any:
    """Strategic merge: maps recursively, keyed lists by their merge key, the rest replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for name, value in patch.items():
            out[name] = merge(base[name], value, name) if name in base else copy.deepcopy(value)
        return out
    merge_key = MERGE_KEYS.get(key)
    if merge_key and isinstance(base, list) and isinstance(patch, list):
        out_list = [copy.deepcopy(item) for item in base]
        for item in patch:
            index = next(
                (i for i, old in enumerate(out_list) if old.get(merge_key) == item[merge_key]),
                None,
            )
            if index is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[index] = merge(out_list[index], item)
        return out_list
    return copy.deepcopy(patch)


def _identity(doc: dict[str, Any]) -> tuple[str, str]:
    return str(doc["kind"]), str(doc["metadata"]["name"])


def _set_images(doc: Any, images: list[dict[str, str]]) -> None:
    if isinstance(doc, dict):
        for name, value in doc.items():
            if name in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    for image in images:
                        if container.get("image", "").split(":")[0] == image["name"]:
                            new = image.get("newName", image["name"])
                            container["image"] = f"{new}:{image['newTag']}"
            else:
                _set_images(value, images)
    elif isinstance(doc, list):
        for item in doc:
            _set_images(item, images)


def render(directory: Path) -> list[dict[str, Any]]:
    """The documents of the kustomization in `directory`, base resources first."""
    config = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(config) - KNOWN
    if unknown:
        raise ValueError(f"{directory}: kustomization fields not supported here: {unknown}")
    docs: list[dict[str, Any]] = []
    for entry in config.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            docs += render(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch_entry in config.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise ValueError(f"{directory}: only `patches: - path:` is supported: {patch_entry}")
        patch = yaml.safe_load((directory / patch_entry["path"]).read_text())
        matches = [i for i, d in enumerate(docs) if _identity(d) == _identity(patch)]
        if len(matches) != 1:
            raise ValueError(f"{directory}: patch {patch_entry['path']} matches {len(matches)}")
        docs[matches[0]] = merge(docs[matches[0]], patch)
    for doc in docs:
        _set_images(doc, config.get("images", []))
    return docs
