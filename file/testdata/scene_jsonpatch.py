"""A small, strict RFC 6902 JSON Patch applier for the scene store's differential tests.

Python has no jsonpatch library here. apply_patch(doc, patch) returns a patched deep copy
of doc or raises PatchError; doc is never modified. JSON Pointers follow RFC 6901
("~1" is "/", "~0" is "~"); an array index is "0" or a digit string without leading
zeros, "-" names the end of an array (only for "add", and as a "move"/"copy" target).
"test" compares as RFC 6902 section 4.6 says: values of different JSON types differ (true is
not 1), numbers are equal when numerically equal (3 == 3.0), strings by code points, arrays
element-wise, objects as unordered sets of members.
"""
import copy


class PatchError(Exception):
    pass


def _tokens(pointer):
    if not isinstance(pointer, str):
        raise PatchError(f"pointer is not a string: {pointer!r}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"pointer does not start with '/': {pointer!r}")
    out = []
    for raw in pointer[1:].split("/"):
        i = 0
        tok = []
        while i < len(raw):
            ch = raw[i]
            if ch == "~":
                if i + 1 >= len(raw) or raw[i + 1] not in "01":
                    raise PatchError(f"bad escape in pointer {pointer!r}")
                tok.append("~" if raw[i + 1] == "0" else "/")
                i += 2
                continue
            tok.append(ch)
            i += 1
        out.append("".join(tok))
    return out


def _index(tok, length, allow_end):
    if allow_end and tok == "-":
        return length
    if not tok or not tok.isdigit() or not tok.isascii() or (len(tok) > 1 and tok[0] == "0"):
        raise PatchError(f"bad array index {tok!r}")
    i = int(tok)
    limit = length if allow_end else length - 1
    if i > limit:
        raise PatchError(f"array index {i} out of range")
    return i


def _parent(doc, tokens):
    cur = doc
    for tok in tokens[:-1]:
        if isinstance(cur, dict):
            if tok not in cur:
                raise PatchError(f"path member {tok!r} missing")
            cur = cur[tok]
        elif isinstance(cur, list):
            cur = cur[_index(tok, len(cur), False)]
        else:
            raise PatchError(f"path goes through a scalar at {tok!r}")
    return cur


def _get(doc, tokens):
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"member {last!r} missing")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(last, len(parent), False)]
    raise PatchError("path goes through a scalar")


def _add(doc, tokens, value):
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), True), value)
    else:
        raise PatchError("add into a scalar")
    return doc


def _remove(doc, tokens):
    if not tokens:
        raise PatchError("cannot remove the root")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"member {last!r} missing")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(last, len(parent), False))
    raise PatchError("remove from a scalar")


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def rfc_equal(a, b):
    if _is_number(a) and _is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(rfc_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(rfc_equal(a[k], b[k]) for k in a)
    return a == b


def _member(op, key):
    if key not in op:
        raise PatchError(f"operation lacks {key!r}")
    return op[key]


def apply_patch(doc, patch):
    if not isinstance(patch, list):
        raise PatchError("patch is not an array")
    doc = copy.deepcopy(doc)
    for op in patch:
        if not isinstance(op, dict):
            raise PatchError("operation is not an object")
        kind = _member(op, "op")
        path = _tokens(_member(op, "path"))
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(_member(op, "value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            value = copy.deepcopy(_member(op, "value"))
            _get(doc, path)
            if not path:
                doc = value
            else:
                parent = _parent(doc, path)
                if isinstance(parent, dict):
                    parent[path[-1]] = value  # a dict keeps the member's position
                else:
                    parent[_index(path[-1], len(parent), False)] = value
        elif kind == "move":
            src = _tokens(_member(op, "from"))
            if src != path and path[: len(src)] == src:
                raise PatchError("cannot move a value into one of its children")
            value = _get(doc, src)
            if src == path:
                continue
            _remove(doc, src)
            doc = _add(doc, path, value)
        elif kind == "copy":
            src = _tokens(_member(op, "from"))
            doc = _add(doc, path, copy.deepcopy(_get(doc, src)))
        elif kind == "test":
            if not rfc_equal(_get(doc, path), _member(op, "value")):
                raise PatchError("test failed")
        else:
            raise PatchError(f"unknown op {kind!r}")
    return doc
