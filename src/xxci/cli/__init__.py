"""The ``xxci`` command line."""

import os

# gRPC's C core logs its own errors to stderr, and reads this once, when it loads:
# xxci reports those errors itself as one clear line.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
