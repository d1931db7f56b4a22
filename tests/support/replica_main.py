"""``python -m tests.support.replica_main HOST serve --config …``: ``triagebot serve`` as if it
ran on its own machine named ``HOST``.

Replicas on one test machine share a hostname, and the bot (rightly) takes over the work of a
process *of its own host* that has ended by checking its pid. On separate machines it cannot:
there only leases and the store tell it that another replica died. Each replica of the
replica tests gets its own name here, so they prove the path a real fleet takes. Only this
test entry point changes the name; the bot reads ``socket.gethostname()`` as always.
"""

from __future__ import annotations

import socket
import sys

from bot.__main__ import main

if __name__ == "__main__":
    host = sys.argv[1]
    socket.gethostname = lambda: host
    sys.exit(main(sys.argv[2:]))
