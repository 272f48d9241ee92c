"""A settings server on a real socket (the dictionary trim reads it), and a folder to trim."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class SettingsServer:
    """Answers GET /api/settings with ``document`` (or ``status`` when not 200)."""

    def __init__(self) -> None:
        self.document: Any = {}
        self.status = 200
        self.seen_headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen_headers.append(dict(self.headers))
                body = json.dumps(outer.document).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/settings"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fill(folder: Path) -> None:
    """Files, nested folders, an empty folder and a dot file."""
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "empty").mkdir()
    (folder / "goods.json").write_text("{}")
    (folder / ".hidden").write_text("x")
    (folder / "sub" / "prices.xml").write_text("<x/>")
    (folder / "sub" / "deeper" / "barcodes.txt").write_text("1")
