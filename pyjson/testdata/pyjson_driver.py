"""Oracle for pyjson's differential tests: CPython's json module.

Reads framed requests from stdin and writes framed answers to stdout.
A frame is a kind byte (requests only), a big-endian u32 part count, then
each part as a big-endian u32 length and its bytes. Text is exchanged as
UTF-8 with surrogates passed through (WTF-8), as pyjson keeps them.

Kinds:
  V          -> [python version "3.11"]
  D doc      -> ["ok", dumps for each OPTS entry..., str(v), bool(v)]
                or ["err", exception class, message]
  E doc doc  -> ["True" | "False"] (a == b) or ["err", ...]
  S text     -> [text.strip(), *text.split()]
  W          -> [code points for which str.isspace() is true, comma-separated hex]
"""
import json
import struct
import sys

sys.setrecursionlimit(20000)

OPTS = [
    dict(sort_keys=True, separators=(",", ":")),
    dict(ensure_ascii=False, sort_keys=True),
    dict(indent=2),
    dict(indent=2, sort_keys=True),
    dict(),
    dict(indent=0, ensure_ascii=False, separators=(", ", " : ")),
]


def enc(s):
    return s.encode("utf-8", "surrogatepass")


def load(b):
    return json.loads(b.decode("utf-8"))


def err(e):
    return [b"err", type(e).__name__.encode(), enc(str(e))]


def handle(kind, parts):
    if kind == b"V":
        return [("%d.%d" % sys.version_info[:2]).encode()]
    if kind == b"D":
        try:
            v = load(parts[0])
        except Exception as e:  # UnicodeDecodeError, JSONDecodeError, ValueError, RecursionError
            return err(e)
        out = [b"ok"]
        for o in OPTS:
            out.append(enc(json.dumps(v, **o)))
        out.append(enc(str(v)))
        out.append(b"1" if v else b"0")
        return out
    if kind == b"E":
        try:
            a, b = load(parts[0]), load(parts[1])
        except Exception as e:
            return err(e)
        return [b"True" if a == b else b"False"]
    if kind == b"S":
        s = parts[0].decode("utf-8", "surrogatepass")
        return [enc(s.strip())] + [enc(f) for f in s.split()]
    if kind == b"W":
        return [",".join("%x" % c for c in range(0x110000) if chr(c).isspace()).encode()]
    raise SystemExit("unknown request kind %r" % kind)


def read_exact(f, n):
    b = f.read(n)
    if len(b) != n:
        raise SystemExit("short read")
    return b


def main():
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        kind = inp.read(1)
        if not kind:
            break
        (n,) = struct.unpack(">I", read_exact(inp, 4))
        parts = []
        for _ in range(n):
            (ln,) = struct.unpack(">I", read_exact(inp, 4))
            parts.append(read_exact(inp, ln))
        res = handle(kind, parts)
        out.write(struct.pack(">I", len(res)))
        for r in res:
            out.write(struct.pack(">I", len(r)))
            out.write(r)
    out.flush()


main()
