#!/usr/bin/env python3
"""Serve the prebuilt OHIF viewer at the root of its own port, with the hub's DICOMweb beside it.

* ``/dicomweb/...`` is passed on to the hub (``--hub``), with the browser's cookies and
  ``Authorization`` header, so OHIF reads the hub's DICOMweb same-origin (no CORS) as the
  logged-in hub user (a session cookie is sent to every port of the same host). With
  ``PACS_HUB_OHIF_TOKEN`` set, requests without an ``Authorization`` header carry that API
  token instead (a ``read`` token: anyone who reaches this port then reads the hub's studies,
  so bind it to a private address or put it behind your own login).
* every other path is a file of the site (``--site``, filled by ``fetch.sh``); a path that
  names no file and has no extension is OHIF's own route (``/viewer``, ``/segmentation``) and
  gets ``index.html``.

Standard library only (no hub virtualenv needed). For production, the nginx template beside
this file does the same. Usage::

    python3 deploy/ohif/serve.py --site deploy/ohif/site --hub http://127.0.0.1:8000 --port 3000
"""

from __future__ import annotations

import argparse
import http.client
import mimetypes
import os
import posixpath
import re
import shutil
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: Request headers passed on to the hub (the rest stay here).
FORWARDED = ("accept", "accept-encoding", "authorization", "content-type", "content-length",
             "cookie", "range", "if-none-match", "if-modified-since")
#: Response headers that belong to one connection only.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authenticate", "proxy-authorization"}
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
         ".json": "application/json", ".woff2": "font/woff2", ".svg": "image/svg+xml",
         ".css": "text/css", ".html": "text/html; charset=utf-8", ".map": "application/json"}
CHUNK = 64 * 1024


class Handler(BaseHTTPRequestHandler):
    """Static files with the single-page fallback, and the ``/dicomweb/`` pass-through."""

    site: Path
    hub: urllib.parse.SplitResult
    token: str = ""
    server_version = "pacs-hub-ohif"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.dispatch(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self.dispatch(body=False)

    def do_POST(self) -> None:  # noqa: N802
        if self.is_dicomweb():
            self.proxy()
        else:
            self.send_error(405)

    def is_dicomweb(self) -> bool:
        path = urllib.parse.urlsplit(self.path).path
        return path == "/dicomweb" or path.startswith("/dicomweb/")

    def dispatch(self, body: bool) -> None:
        if self.is_dicomweb():
            self.proxy()
            return
        file = self.find(urllib.parse.urlsplit(self.path).path)
        if file is None:
            self.send_error(404)
            return
        kind = TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
        fresh = file.name in ("index.html", "app-config.js")
        self.send_response(200)
        self.send_header("Content-Type", kind or "application/octet-stream")
        self.send_header("Content-Length", str(file.stat().st_size))
        self.send_header("Cache-Control", "no-cache" if fresh else "max-age=3600")
        self.end_headers()
        if body:
            with file.open("rb") as handle:
                shutil.copyfileobj(handle, self.wfile, CHUNK)

    def find(self, url_path: str) -> Path | None:
        """The site file of ``url_path``; ``index.html`` for OHIF's routes; None otherwise."""
        clean = posixpath.normpath(urllib.parse.unquote(url_path)).lstrip("/")
        if clean.startswith("..") or "\x00" in clean:
            return None
        candidate = (self.site / clean) if clean not in ("", ".") else self.site / "index.html"
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if candidate.is_file() and candidate.resolve().is_relative_to(self.site):
            return candidate
        if "." not in posixpath.basename(clean):
            return self.site / "index.html"
        return None

    def proxy(self) -> None:
        """Pass the request on to the hub and stream its answer back."""
        headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED}
        if self.token and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = f"Bearer {self.token}"
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["Host"] = self.hub.netloc
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        connection_class = (http.client.HTTPSConnection if self.hub.scheme == "https"
                            else http.client.HTTPConnection)
        upstream = connection_class(self.hub.netloc, timeout=300)
        try:
            upstream.request(self.command, self.hub.path.rstrip("/") + self.path, body, headers)
            answer = upstream.getresponse()
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                while chunk := answer.read(CHUNK):
                    self.wfile.write(chunk)
        except OSError as exc:
            self.log_error("hub unreachable: %s", exc)
            if not self.wfile.closed:
                try:
                    self.send_error(502, "the hub does not answer")
                except OSError:
                    pass
        finally:
            upstream.close()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # request lines only (no query strings: they may hold UIDs, never patient data)
        line = re.sub(r"\?\S*", "", format % args)
        sys.stderr.write(f"{self.address_string()} {line}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=Path(__file__).with_name("site"),
                        help="the OHIF site (fetch.sh fills it)")
    parser.add_argument("--hub", default="http://127.0.0.1:8000", help="the hub's base URL")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=3000, help="port to listen on")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    if not (site / "index.html").is_file():
        parser.error(f"{site} holds no OHIF site: run deploy/ohif/fetch.sh first")
    Handler.site = site
    Handler.hub = urllib.parse.urlsplit(args.hub)
    Handler.token = os.environ.get("PACS_HUB_OHIF_TOKEN", "")
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    where = f"http://{args.host}:{server.server_port}/"
    sys.stderr.write(f"OHIF on {where}, DICOMweb from {args.hub}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
