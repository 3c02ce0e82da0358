"""Customs AED gateway: signed UPU ITMATT in, signed canonical protobuf records out over gRPC."""

__version__ = "0.1.0"
