"""Python generated from packages/folio-metrics/proto/metrics.proto; `make proto` remakes it.

The command, run from the repository root::

    python -m grpc_tools.protoc -I packages/folio-metrics/proto --python_out=bench/proto \
        packages/folio-metrics/proto/metrics.proto

metrics_pb2 is an encoder and decoder independent of folio_metrics' own: bench.native races
the two, and tests/metrics/test_native_decode.py reads folio_metrics' output with it.
"""
