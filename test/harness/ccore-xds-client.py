#!/usr/bin/python3
"""A proxyless gRPC client in gRPC C-core (Python grpcio, e.g. Debian 12's python3-grpcio 1.51)
resolving xds:///TARGET through Weft's control plane. Nobody at Weft wrote its xDS client.

    GRPC_XDS_BOOTSTRAP=bootstrap.json /usr/bin/python3 ccore-xds-client.py TARGET [--calls N]

The bootstrap file names the control plane's plaintext xDS port (`xds_servers`, insecure
channel_creds, server_features ["xds_v3"]) and the node id. Calls /weft.test.Echo/Echo on
test/harness/grpc-backend.mjs and prints one JSON line per call: {"backend": NAME} or
{"error": CODE, "message": ...}, then a summary {"counts": {NAME: n}, "errors": n}.

With --calls N it makes N calls and exits. Without it, it prints "ready" and reads commands on
stdin, one per line, keeping the same channel (and xDS stream) across commands:
    run N [NAME=VALUE ...]   N calls, each with those metadata headers
    quit
Bounded: every call has a deadline (--call-timeout, seconds), a run stops at --run-timeout
seconds, N is capped at 100000, and the process ends when stdin closes.
"""
import argparse
import json
import os
import sys
import time

# A C-core channel that is not in a call reads its xDS stream only when the backup poller runs,
# every 5 s by default: each step of a change (RDS, then CDS, then EDS) would wait that long.
# Set before grpc loads; an explicit setting wins.
os.environ.setdefault("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100")

import grpc  # noqa: E402  (after the environment it reads at load)

MAX_CALLS = 100_000


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def run(echo, n, metadata, call_timeout, run_timeout, quiet):
    counts = {}
    errors = 0
    last_error = None
    deadline = time.monotonic() + run_timeout
    done = 0
    for _ in range(min(max(n, 0), MAX_CALLS)):
        if time.monotonic() > deadline:
            break
        done += 1
        try:
            answer = echo(b"x", timeout=call_timeout, metadata=metadata)
            name = answer.decode("utf-8", "replace").split(":", 1)[0]
            counts[name] = counts.get(name, 0) + 1
            if not quiet:
                emit({"backend": name})
        except grpc.RpcError as e:
            errors += 1
            last_error = f"{e.code().name}: {e.details()}"
            if not quiet:
                emit({"error": e.code().name, "message": e.details()})
    summary = {"counts": counts, "errors": errors, "calls": done}
    if last_error is not None:
        summary["lastError"] = last_error
    emit(summary)


def parse_headers(words):
    md = []
    for w in words:
        name, sep, value = w.partition("=")
        if not sep or not name:
            raise ValueError(f"header {w!r} is not NAME=VALUE")
        # gRPC metadata keys are lowercase ASCII.
        md.append((name.lower(), value))
    return tuple(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", help="the service to resolve as xds:///TARGET")
    ap.add_argument("--calls", type=int, help="make this many calls, print the results and exit")
    ap.add_argument("--header", action="append", default=[], help="NAME=VALUE metadata on every call (with --calls)")
    ap.add_argument("--call-timeout", type=float, default=5.0, help="deadline of each call, seconds")
    ap.add_argument("--run-timeout", type=float, default=60.0, help="a run stops after this many seconds")
    ap.add_argument("--quiet", action="store_true", help="print only the summary line of each run")
    args = ap.parse_args()
    if not os.environ.get("GRPC_XDS_BOOTSTRAP") and not os.environ.get("GRPC_XDS_BOOTSTRAP_CONFIG"):
        ap.error("set GRPC_XDS_BOOTSTRAP to a bootstrap file naming the control plane's xDS server")

    channel = grpc.insecure_channel(f"xds:///{args.target}")
    # Raw bytes in and out: grpc-backend.mjs answers "NAME:<request>".
    echo = channel.unary_unary("/weft.test.Echo/Echo")
    try:
        if args.calls is not None:
            run(echo, args.calls, parse_headers(args.header), args.call_timeout, args.run_timeout, args.quiet)
            return 0
        print("ready", flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "run" and len(words) >= 2:
                try:
                    n = int(words[1])
                    md = parse_headers(words[2:])
                except ValueError as e:
                    emit({"badCommand": line.strip(), "message": str(e)})
                    continue
                run(echo, n, md, args.call_timeout, args.run_timeout, args.quiet)
            else:
                emit({"badCommand": line.strip()})
        return 0
    finally:
        channel.close()


if __name__ == "__main__":
    sys.exit(main())
