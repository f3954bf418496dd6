"""A broadcast's outputs by kind: the key of a request's output object names its class (`{"rtmp": ...}` ->
RtmpOutput). A new kind is one module with a class that has `from_request(spec, context)` (see
server/transports/requests.py) plus one entry here."""
from __future__ import annotations

from typing import Any

from engines.plugins import Plugins
from server.pipeline.errors import quote
from server.transports.base import Output
from server.transports.requests import OutputContext, RequestedOutput, bad_output

OUTPUTS = Plugins("output", {
    "rtmp": "server.transports.rtmp:RtmpOutput",
    "file": "server.transports.file:FileOutput",
    "whip": "server.transports.webrtc.whip:WhipOutput",
    "janus": "server.transports.webrtc.janus:JanusOutput",
})


def output_kind(spec: Any) -> str:
    """The kind of one output object: exactly one of its keys names a registered kind."""
    if not isinstance(spec, dict):
        raise bad_output(f"an output is a JSON object such as {{\"rtmp\": \"rtmp://host/app/key\"}}, not {quote(repr(spec))}")
    kinds = [key for key in spec if key in OUTPUTS]
    if len(kinds) != 1:
        named = f"names {' and '.join(kinds)}" if kinds else "names none"
        raise bad_output(f"an output names exactly one kind of {', '.join(OUTPUTS)}; this one {named}")
    return kinds[0]


def build_outputs(specs: Any, context: OutputContext) -> list[Output]:
    """The outputs of a broadcast request's `outputs` list, or ProtocolError bad_output for the first malformed
    one (nothing is connected or opened here, so a refused request leaves nothing behind)."""
    if not isinstance(specs, list):
        raise bad_output("'outputs' must be a list of output objects")
    limit = context.config.broadcast.max_outputs
    if len(specs) > limit:
        raise bad_output(f"a broadcast has at most {limit} outputs, not {len(specs)}")
    repeated = [spec for i, spec in enumerate(specs) if spec in specs[:i]]
    if repeated:
        raise bad_output(f"the same output is given twice: {quote(repr(repeated[0]))}")
    outputs = []
    for spec in specs:
        kind: type[RequestedOutput] = OUTPUTS.load(output_kind(spec))
        outputs.append(kind.from_request(spec, context))
    return outputs
