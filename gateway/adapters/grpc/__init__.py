"""gRPC adapter: the routed feed, declaration lookup, the gateway's keys, health and reflection.

`server.build_grpc_server` assembles the server; `client` is the reusable consumer side.
"""
