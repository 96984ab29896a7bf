"""Field checks for the maps read back from our msgpack files (checkpoints, history, sidecars): whether each value
has the type its format promises, so that a damaged file is one named error at load time instead of a KeyError or
TypeError wherever the value is used later.

A msgpack file gives back plain values: an int is taken for a float (msgpack keeps 2.0 as a float but a writer
may not), a bool is never taken for an int, a list is taken for a tuple, and `X | None` takes nil.
"""

import types
import typing


def fits(value, expected) -> bool:
    """Whether a msgpack value fits a field annotated `expected` (a type, `list[...]`, `tuple[...]` or a union)."""
    allowed = typing.get_args(expected) if isinstance(expected, types.UnionType) else (expected,)
    allowed = tuple(typing.get_origin(kind) or kind for kind in allowed)
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int) and float in allowed:
        return True
    if isinstance(value, list) and tuple in allowed:
        return True
    return isinstance(value, allowed)


def problem(data, types_by_key: dict, required=None, where: str = "") -> str | None:
    """What is wrong with map `data` against `types_by_key` (key → annotation), or None when nothing is.
    `required` names the keys that must be present (default: all); an unknown key is a problem too."""
    prefix = f"{where}: " if where else ""
    if not isinstance(data, dict):
        return f"{prefix}not a map (a value of type {type(data).__name__})"
    required = types_by_key.keys() if required is None else required
    for key in data:
        if key not in types_by_key:
            return f"{prefix}unknown field {key!r}"
    for key in required:
        if key not in data:
            return f"{prefix}missing field {key!r}"
    for key, value in data.items():
        if not fits(value, types_by_key[key]):
            return f"{prefix}field {key!r} is a {type(value).__name__}, not {_name(types_by_key[key])}"
    return None


def _name(expected) -> str:
    return getattr(expected, "__name__", None) or str(expected)
