"""Wire layer: protocol 4 (gRPC) and protocol 3 (Thrift) transports and their conversions."""
