"""``python -m stepd move SESSION --from URL --to URL``: move a live session between servers.

``python -m stepd sessions URL...`` lists every session of the servers given, one line each.
"""

from __future__ import annotations

import argparse
import sys

from .cluster import Cluster
from .errors import StepdError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stepd", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    move = sub.add_parser("move", help="move a live session to another server (checkpoint GET and POST)")
    move.add_argument("session")
    move.add_argument("--from", dest="source", required=True, help="URL of the server holding it")
    move.add_argument("--to", dest="to", required=True, help="URL of the server to move it to")
    move.add_argument("--token", default=None, help="bearer token (default $STEPD_TOKEN)")
    ls = sub.add_parser("sessions", help="list the sessions of several servers")
    ls.add_argument("urls", nargs="+")
    ls.add_argument("--token", default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "move":
            cluster = Cluster([args.source, args.to], args.token)
            s = cluster.move(args.session, args.to, source=args.source)
            print(f"moved {s.id} to {s.client.url} at step {s.last_step}")
        else:
            for s in Cluster(args.urls, args.token).sessions():
                print(f"{s['id']}\t{s['node']}\tstep {s['step']}\t{s['optimizer']}\t{s['param_count']} params")
    except StepdError as e:
        print(f"stepd: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
