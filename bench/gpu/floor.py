"""The floor for putting weights on the GPU: the bytes of the safetensors
files over the slower of (a) reading them from the page cache / disk and
(b) copying them host to device, both measured here on the same machine.

usage: python3 floor.py SNAPSHOT_DIR
prints one JSON object.
"""
import glob
import json
import os
import sys
import time

import torch

files = sorted(glob.glob(os.path.join(sys.argv[1], "*.safetensors")))
total = sum(os.path.getsize(f) for f in files)

# (a) read bandwidth: the files as they are now (just downloaded, so most
# likely in the page cache, as they are for Sena's load).
t0 = time.perf_counter()
buf = bytearray(64 << 20)
for f in files:
    with open(f, "rb", buffering=0) as fh:
        while fh.readinto(buf):
            pass
read_s = time.perf_counter() - t0

# (b) host-to-device bandwidth, pageable memory as from_pretrained uses,
# best of three copies of 1 GiB.
x = torch.empty(1 << 30, dtype=torch.uint8)
x.fill_(1)
torch.cuda.synchronize()
best = float("inf")
for _ in range(3):
    t0 = time.perf_counter()
    y = x.to("cuda")
    torch.cuda.synchronize()
    best = min(best, time.perf_counter() - t0)
    del y
h2d_bps = (1 << 30) / best

read_bps = total / read_s
floor_s = total / min(read_bps, h2d_bps)
print(json.dumps({"bytes": total, "read_GBps": read_bps / 1e9, "h2d_GBps": h2d_bps / 1e9,
                  "floor_s": floor_s, "read_plus_h2d_s": total / read_bps + total / h2d_bps}))
