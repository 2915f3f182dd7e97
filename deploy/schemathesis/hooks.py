"""Schemathesis hooks for localrecord (loaded by deploy/schemathesis.sh through SCHEMATHESIS_HOOKS).

- The query API's `sign` is md5(TicKey + expire_time), so it cannot be a fixed value: each call to
  POST /paas/v1/localrecord/query gets a fresh, valid sdkappid/expire_time/sign (its body is still
  generated), so the calls reach the paging code instead of stopping at the signature.
- Path parameters are sometimes swapped for real ids (tasks, an upload and a spliced recording the
  script created), so
  operations on existing objects are exercised, not only the 404s of made-up ids.
"""

import base64
import hashlib
import os
import time

import schemathesis
from hypothesis import strategies as st

SDKAPPID = os.environ["ST_SDKAPPID"]
TIC_KEY = os.environ["ST_TIC_KEY"]
REAL = {
    "task_id": [t for t in os.environ.get("ST_TASKS", "").split(",") if t],
    "id": [u for u in os.environ.get("ST_UPLOADS", "").split(",") if u],
    "file": [r for r in os.environ.get("ST_RECORDINGS", "").split(",") if r],
}
QUERY_PATH = "/paas/v1/localrecord/query"


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != QUERY_PATH:
        return
    expire_time = int(time.time()) + 120
    query = dict(case.query or {})
    query.update(
        sdkappid=SDKAPPID,
        expire_time=expire_time,
        sign=hashlib.md5(f"{TIC_KEY}{expire_time}".encode()).hexdigest(),
    )
    case.query = query
    if isinstance(case.body, dict) and "expire_time" in case.body:
        case.body["expire_time"] = expire_time


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    choices = [path_parameters]
    for name, ids in REAL.items():
        if name in (path_parameters or {}):
            choices += [{**path_parameters, name: real} for real in ids]
    return st.sampled_from(choices)


# A tus chunk is raw bytes, like application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


UPLOADS_PATH = "/localrecord/v1/uploads"


@schemathesis.hook
def flatmap_headers(context, headers):
    """tus creation also gets a valid request now and then: real task metadata, a small length."""
    if context.operation is None or context.operation.path != UPLOADS_PATH or not REAL["task_id"]:
        return st.just(headers)
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    valid = [
        {
            **(headers or {}),
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "100",
            "Upload-Metadata": f"task_id {b64(task)},slice_index {b64(str(index))}",
        }
        for task in REAL["task_id"]
        for index in (5, 6)
    ]
    return st.sampled_from([headers, *valid])
