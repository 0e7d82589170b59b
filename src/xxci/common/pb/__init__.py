"""Generated protobuf code. Run `make protos`."""
