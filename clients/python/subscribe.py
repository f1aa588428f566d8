#!/usr/bin/env python3
"""Follow a streamgate group (or one item of it) over gRPC and print every change.

    python3 clients/python/subscribe.py todo inbox                  # a whole group
    python3 clients/python/subscribe.py todo inbox t1 --json        # one item, one JSON object per line
    python3 clients/python/subscribe.py private alice --token alice --target gateway.example:443 --tls

Needs grpcio and protobuf (Debian: python3-grpcio python3-protobuf; pip: grpcio protobuf). The code in
gen/ is generated from proto/ by `npx buf generate --template clients/buf.gen.yaml`.

The first event is a sync (the state to start from), then every change in order. When the gateway goes
away (restart, deploy: UNAVAILABLE) this script comes back with the last resume_token and gets exactly
the events it missed; a sync with reset=true means they could not be replayed and the state starts over.
"""

import argparse
import json
import os
import sys
import time

import grpc
from google.protobuf.json_format import MessageToDict

sys.dont_write_bytecode = True  # keep gen/ exactly as buf generated it
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))
from streamgate.v1 import stream_pb2, stream_pb2_grpc  # noqa: E402


def as_dict(event):
    """The event as plain JSON types: Struct items become dicts, int64s become ints."""
    kind = event.WhichOneof("event")
    out = {
        "kind": kind,
        "stream_name": event.stream_name,
        "group_id": event.group_id,
        "id": event.id,
        "timestamp": event.timestamp,
        "resume_token": event.resume_token,
        "sequence": event.sequence,
    }
    if kind == "sync":
        out["items"] = [MessageToDict(item) for item in event.sync.items]
        out["reset"] = event.sync.reset
    elif kind == "custom":
        out["type"] = event.custom.type
        out["data"] = MessageToDict(event.custom.data) if event.custom.HasField("data") else None
    else:
        out["item"] = MessageToDict(getattr(event, kind).item)
    return out


def describe(e):
    where = f"{e['stream_name']}/{e['group_id']}" + (f"/{e['id']}" if e["id"] else "")
    if e["kind"] == "sync":
        detail = f"{len(e['items'])} item(s)" + (" (reset: start over)" if e["reset"] else "")
    elif e["kind"] == "custom":
        detail = f"{e['type']} {json.dumps(e['data'])}"
    else:
        detail = json.dumps(e["item"])
    return f"{e['kind']:<6} {where}  {detail}  [seq {e['sequence']}, resume {e['resume_token']}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stream")
    parser.add_argument("group")
    parser.add_argument("id", nargs="?", default="", help="follow one item instead of the whole group")
    parser.add_argument("--target", default="localhost:3000", help="host:port of the gateway")
    parser.add_argument("--token", help="sent as 'authorization: Bearer TOKEN'")
    parser.add_argument("--resume-token", default="", help="resume after the event that carried this token")
    parser.add_argument("--tls", action="store_true", help="use TLS (with --ca for a private CA)")
    parser.add_argument("--ca", help="PEM file of the CA that signed the gateway's certificate")
    parser.add_argument("--json", action="store_true", help="print one JSON object per event")
    args = parser.parse_args()

    if args.tls or args.ca:
        root = open(args.ca, "rb").read() if args.ca else None
        channel = grpc.secure_channel(args.target, grpc.ssl_channel_credentials(root_certificates=root))
    else:
        channel = grpc.insecure_channel(args.target)
    stub = stream_pb2_grpc.StreamServiceStub(channel)
    metadata = [("authorization", f"Bearer {args.token}")] if args.token else None

    resume_token = args.resume_token
    while True:
        request = stream_pb2.SubscribeRequest(
            stream_name=args.stream, group_id=args.group, id=args.id, resume_token=resume_token
        )
        try:
            for event in stub.Subscribe(request, metadata=metadata):
                resume_token = event.resume_token
                e = as_dict(event)
                print(json.dumps(e) if args.json else describe(e), flush=True)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                print(f"error: {error.code().name}: {error.details()}", file=sys.stderr, flush=True)
                return 1
            print(f"gateway unavailable ({error.details()}); resuming in 1 s", file=sys.stderr, flush=True)
            time.sleep(1)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
