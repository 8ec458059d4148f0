"""``attributes`` and ``excludedAttributes`` (RFC 7644 §3.4.2.5): which attributes of
a resource a SCIM answer carries. Entra, for one, reads groups without members."""

from __future__ import annotations

from typing import Any

ALWAYS_RETURNED = {"id", "schemas"}


def attribute_names(value: Any, core_urn: str) -> list[str]:
    """``attributes`` parameter → lower-case paths, core URN prefix removed."""
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    out = []
    for raw in str(value or "").split(","):
        name = raw.strip()
        if name.lower().startswith(core_urn.lower() + ":"):
            name = name[len(core_urn) + 1:]
        if name:
            out.append(name.lower())
    return out


def project(doc: dict, *, attributes: list[str], excluded: list[str]) -> dict:
    """Apply ``attributes`` / ``excludedAttributes`` (RFC 7644 §3.4.2.5) to one resource."""
    if attributes:
        kept: dict[str, Any] = {}
        for key, value in doc.items():
            lower = key.lower()
            if lower in ALWAYS_RETURNED or lower in attributes or any(a.startswith(lower + ":") for a in attributes):
                kept[key] = value
                continue
            subs = [a.split(".", 1)[1] for a in attributes if a.startswith(lower + ".")]
            if subs and isinstance(value, (dict, list)):
                if isinstance(value, dict):
                    kept[key] = {k: v for k, v in value.items() if k.lower() in subs}
                else:
                    kept[key] = [{k: v for k, v in i.items() if k.lower() in subs} for i in value]
        doc = kept
    for name in excluded:
        head, _, sub = name.partition(".")
        for key in list(doc):
            if key.lower() != head or key.lower() in ALWAYS_RETURNED:
                continue
            if not sub:
                del doc[key]
            elif isinstance(doc[key], dict):
                doc[key] = {k: v for k, v in doc[key].items() if k.lower() != sub}
    return doc

