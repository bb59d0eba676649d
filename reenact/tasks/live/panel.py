"""The live control panel: a local web page served by the process that runs the pipeline.

    GET  /?token=T           the page (panel.html)
    GET  /state?token=T      presets, AU names, editors, controls and status, as JSON
    GET  /events?token=T     the same status as server-sent events, about ten a second
    GET  /stream?token=T&view=after|before|split     Motion JPEG of the output
    POST /control?token=T    {"action": ..., ...}: one of ACTIONS, applied through the session's
                             control channel; 400 with {"error": "one line"} when refused
    POST /reference?token=T  an image (the body, at most MAX_UPLOAD bytes): its face's expression

Security: the server listens on 127.0.0.1 only. Every request must carry the random token printed at
start (query `token` or header X-Reenact-Token); a request whose Host is not this server is refused
(DNS rebinding), and so is a POST whose Origin or Sec-Fetch-Site says another site sent it, so a page
open in the same browser cannot drive the run. Uploads are size-capped, their pixel count is read from
the header before decoding, and a bad image is a message in the page while the stream goes on.
"""
from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from ...errors import ReenactError
from ...io.image import decode_image
from ...io.mjpeg import BOUNDARY, VIEWS, MJPEGSink
from ...pipeline.types import AU_NAMES
from ...stages.targets import STRENGTH_RANGE, presets
from .session import LiveSession, editor_choices

log = logging.getLogger("reenact")

MAX_UPLOAD = 8 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000
EVENTS_EVERY_S = 0.1


def _state(session: LiveSession) -> dict[str, Any]:
    status = session.stats()
    return {"controls": asdict(session.controls), "status": {**asdict(status),
                                                           "dropped_percent": status.dropped_percent}}


ACTIONS: dict[str, Callable[[LiveSession, dict], Any]] = {
    "target": lambda s, a: s.set_target(str(a.get("spec") or "")),
    "aus": lambda s, a: s.set_aus({str(k): float(v) for k, v in dict(a["values"]).items()},
                                  str(a.get("mode", "relative"))),
    "strength": lambda s, a: s.set_strength(float(a["value"])),
    "bypass": lambda s, a: s.bypass(bool(a["on"])),
    "editor": lambda s, a: s.set_editor(str(a["spec"])),
    "faces": lambda s, a: s.edit_faces(None if a.get("ids") is None else [int(i) for i in a["ids"]]),
    "ease": lambda s, a: s.set_ease(float(a["seconds"])),
    "record": lambda s, a: s.record(bool(a["on"])),
    "virtual_camera": lambda s, a: s.virtual_camera(bool(a["on"])),
    "stop": lambda s, a: s.stop(),
}


class PanelServer:
    """Serves the panel for `session` on 127.0.0.1:port (0: any free port) until close()."""

    def __init__(self, session: LiveSession, preview: MJPEGSink, *, port: int = 0):
        self.session, self.preview = session, preview
        self.token = secrets.token_urlsafe(18)
        self.closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.origin}/?token={self.token}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="reenact-panel", daemon=True)

    def start(self) -> "PanelServer":
        self._thread.start()
        return self

    def close(self) -> None:
        self.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def page_info(self) -> dict[str, Any]:
        return {"presets": list(presets()), "aus": list(AU_NAMES), "editors": editor_choices(),
                "views": list(VIEWS), "strength_range": list(STRENGTH_RANGE), "max_upload": MAX_UPLOAD,
                **_state(self.session)}


def _handler(server: PanelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args) -> None:
            log.debug("panel: " + fmt, *args)

        # --- replies ---------------------------------------------------------------------------------

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def _refuse(self, why: str) -> None:
            self._send(HTTPStatus.FORBIDDEN, why.encode(), "text/plain; charset=utf-8")

        # --- checks ----------------------------------------------------------------------------------

        def _allowed(self, changes_state: bool) -> bool:
            url = urlsplit(self.path)
            hosts = {f"127.0.0.1:{server.port}", f"localhost:{server.port}"}
            origins = {f"http://{h}" for h in hosts}
            token = parse_qs(url.query).get("token", [""])[0] or self.headers.get("X-Reenact-Token", "")
            if self.headers.get("Host") not in hosts:
                self._refuse("wrong Host: open the panel by the address it printed")
            elif not hmac.compare_digest(token.encode(), server.token.encode()):
                self._refuse("missing or wrong token: open the panel by the address it printed")
            elif changes_state and (self.headers.get("Origin") not in (None, *origins)
                                    or self.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none")):
                self._refuse("refused: this request came from another site")
            else:
                return True
            return False

        # --- routes ----------------------------------------------------------------------------------

        def do_GET(self) -> None:
            if not self._allowed(changes_state=False):
                return
            url = urlsplit(self.path)
            if url.path == "/":
                page = resources.files(__package__).joinpath("panel.html").read_bytes()
                self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
            elif url.path == "/state":
                self._json(HTTPStatus.OK, server.page_info())
            elif url.path == "/events":
                self._events()
            elif url.path == "/stream":
                view = parse_qs(url.query).get("view", ["after"])[0]
                self._stream(view if view in VIEWS else "after")
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

        def do_POST(self) -> None:
            if not self._allowed(changes_state=True):
                return
            path = urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_UPLOAD:
                self.close_connection = True
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           {"error": f"too big: at most {MAX_UPLOAD // (1024 * 1024)} MB"})
                return
            body = self.rfile.read(length)
            try:
                if path == "/control":
                    request = json.loads(body or b"{}")
                    action = ACTIONS.get(request.get("action")) if isinstance(request, dict) else None
                    if action is None:
                        raise ValueError(f"unknown action; known: {', '.join(ACTIONS)}")
                    result = action(server.session, request)
                elif path == "/reference":
                    image = decode_image(body, "upload", max_pixels=MAX_UPLOAD_PIXELS)
                    result = server.session.set_reference(image, self.headers.get("X-Filename", "upload"))
                else:
                    self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
                    return
            except (ReenactError, ValueError, KeyError, TypeError) as e:
                message = str(e) if not isinstance(e, KeyError) else f"missing field {e}"
                self._json(HTTPStatus.BAD_REQUEST, {"error": message})
                return
            self._json(HTTPStatus.OK, {"ok": True, "result": result})

        def _events(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.close_connection = True
            try:
                while not server.closing.wait(EVENTS_EVERY_S):
                    self.wfile.write(b"data: " + json.dumps(_state(server.session)).encode() + b"\n\n")
                    self.wfile.flush()
            except OSError:  # the page went away
                pass

        def _stream(self, view: str) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.close_connection = True
            try:
                for jpeg in server.preview.jpegs(view, server.closing):
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                     f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                    self.wfile.flush()
            except OSError:
                pass

    return Handler
