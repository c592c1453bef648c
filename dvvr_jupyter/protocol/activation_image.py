"""The client's ``ActivationImage`` body, validated.

The Unity client serialises a C# struct, so fields the mode does not need are
0.  ``mode`` is required; missing ids count as 0; everything else the struct
carries (``className``, ``isRGB``, ``zeroValue``, ``nDim``, ``tex``) is read
by no route and ignored.
"""

from __future__ import annotations

import json

from ..errors import BadRequest

ID_FIELDS = ("networkID", "datasetID", "noiseGeneratorID", "imageID", "layerID", "channelID")


def _as_int(body: dict, field: str, required: bool = False) -> int:
    if field not in body or body[field] is None:
        if required:
            raise BadRequest(f"field {field!r} is required", field=field)
        return 0
    value = body[field]
    if isinstance(value, bool):
        raise BadRequest(f"field {field!r} must be an integer, got a boolean", field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise BadRequest(f"field {field!r} must be an integer, got {json.dumps(value)}", field=field)


def parse_activation_image(raw: bytes) -> dict:
    """Validated ``{field: int}`` of the ids and ``mode``."""
    try:
        body = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the body must be a JSON object (an ActivationImage), but it is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object (an ActivationImage), got a JSON {type(body).__name__}")
    choice = {field: _as_int(body, field) for field in ID_FIELDS}
    choice["mode"] = _as_int(body, "mode", required=True)
    return choice
