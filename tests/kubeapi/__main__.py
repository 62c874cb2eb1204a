"""`python -m tests.kubeapi --port PORT --kubeconfig FILE`: serve the test API server until killed."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.kubeapi.server import CONTEXT, KubeAPIServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.kubeapi",
                                     description="A test double of the Kubernetes API server (tests only).")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--kubeconfig", required=True, help=f"where to write a kubeconfig (context {CONTEXT})")
    args = parser.parse_args()
    server = KubeAPIServer(args.port).start()
    server.write_kubeconfig(args.kubeconfig)
    print(f"serving the Kubernetes API test double at {server.url} (context {CONTEXT}, kubeconfig "
          f"{args.kubeconfig})", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
