"""``triagebot serve`` where it cannot start: a message and exit 1, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_serve_on_a_port_in_use_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "config.toml"
        config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
            f'[store]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        )
        done = subprocess.run(
            [sys.executable, "-m", "bot", "serve", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s"},
            cwd=ROOT,
        )
    assert done.returncode == 1, done.stderr
    assert (
        f"triagebot serve: cannot listen on 127.0.0.1:{port}: Address already in use. "
        "Stop whatever holds it, or set another [server] port." in done.stderr
    )
    assert "Traceback" not in done.stderr
