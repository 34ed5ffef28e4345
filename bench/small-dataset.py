#!/usr/bin/env python3
"""Cuts a dataset of ../shared/bench/mkdataset.py down to the first BYTES of every stream
(whole lines), keeping its manifest's shape, for runs under valgrind.

usage: small-dataset.py SRC DST [--bytes 600000]
"""
import argparse, json, os

ap = argparse.ArgumentParser()
ap.add_argument("src")
ap.add_argument("dst")
ap.add_argument("--bytes", type=int, default=600_000)
a = ap.parse_args()
m = json.load(open(os.path.join(a.src, "manifest.json")))
total = 0
for s in m["streams"]:
    src, dst = os.path.join(a.src, s["path"]), os.path.join(a.dst, s["path"])
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(src, "rb") as fh:
        data = fh.read(a.bytes)
    data = data[: data.rfind(b"\n") + 1]
    with open(dst, "wb") as fh:
        fh.write(data)
    s["lines"] = data.count(b"\n")
    total += len(data)
with open(os.path.join(a.dst, "manifest.json"), "w") as fh:
    json.dump(m, fh)
print(json.dumps({"streams": len(m["streams"]), "bytes": total}))
