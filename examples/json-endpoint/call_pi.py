#!/usr/bin/env python3
# How to run: `weft up --http-port 8080 &` then `weft deploy target/wasm32-wasip2/release/example_pi.wasm --name pi`, then `python3 examples/json-endpoint/call_pi.py [http://127.0.0.1:8080]`
"""Call a weft component's function over HTTP with nothing but the standard
library: POST /v1/call/{component}/{function} with a JSON array of arguments
answers with the JSON result, or an error status with {"error", "kind"}.
The endpoint runs any function, so it takes the cluster's token:
`WEFT_TOKEN`, else the one `weft up` left for its default address."""

import json
import os
import sys
import urllib.error
import urllib.request


def token():
    if os.environ.get("WEFT_TOKEN"):
        return os.environ["WEFT_TOKEN"]
    path = os.path.expanduser("~/.weft/tokens/127.0.0.1_7077")
    return open(path).read().strip() if os.path.exists(path) else None


def call(base, component, function, *args):
    headers = {"content-type": "application/json"}
    if token():
        headers["authorization"] = f"Bearer {token()}"
    request = urllib.request.Request(
        f"{base}/v1/call/{component}/{function}",
        data=json.dumps(list(args)).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        error = json.load(e)
        raise SystemExit(f"{e.code} {error['kind']}: {error['error']}")


if __name__ == "__main__":
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    for samples in (1_000, 100_000, 1_000_000):
        print(f"{samples:>9} samples: pi is about {call(base, 'pi', 'estimate', samples, 42)}")
    # Bad arguments come back as 400 with the reason.
    call(base, "pi", "estimate", "many", 42)
