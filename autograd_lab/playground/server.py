"""The playground's local web server: the standard library's ThreadingHTTPServer.

One user, one process: the page asks for a few epochs at a time (fetch), so no
websockets are needed. The server listens on 127.0.0.1 only; every request must
carry the random token of the printed URL (403 without) and a loopback Host header
(a DNS-rebinding page gets 403). Bad requests get 4xx and a one-line JSON message,
never a traceback. Nothing is written to disk. The page is one HTML file with its
script and styles inline; the Content-Security-Policy allows exactly those (by
hash) and requests to this server, nothing else.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

from .session import CSV_MAX_BYTES, Session, SettingsError

MAX_BODY = CSV_MAX_BYTES + 64_000
CLOSE_GRACE_SECONDS = 4.0      # a reload sends "bye" and then asks again at once


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def build_page() -> tuple[str, str]:
    """(the page's HTML, its Content-Security-Policy)."""
    script, style = _asset("playground.js"), _asset("playground.css")
    page = _asset("playground.html").replace("/*STYLE*/", style).replace("/*SCRIPT*/", script)
    csp = ("default-src 'none'; "
           f"script-src {_sha256(script)}; style-src {_sha256(style)}; "
           "img-src data:; connect-src 'self'; form-action 'none'; base-uri 'none'")
    return page, csp


class PlaygroundServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port=0, session=None, stop_when_closed=True, quiet=True):
        super().__init__(("127.0.0.1", port), _Handler)
        self.token = secrets.token_urlsafe(24)
        self.session = session or Session()
        self.lock = threading.Lock()
        self.stop_when_closed, self.quiet = stop_when_closed, quiet
        self.page, self.csp = build_page()
        self._close_timer = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/?token={self.token}"

    def page_closed(self):
        """The page said goodbye: stop unless it (or another page) asks again soon."""
        if not self.stop_when_closed:
            return
        self.cancel_close()
        self._close_timer = threading.Timer(CLOSE_GRACE_SECONDS, self.shutdown)
        self._close_timer.daemon = True
        self._close_timer.start()

    def cancel_close(self):
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None


class _Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    server_version = "autograd-lab-playground"
    sys_version = ""

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("playground: " + (fmt % args) + "\n")

    # ---- replies ------------------------------------------------------------------
    def _send(self, status, body: bytes, kind: str):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", self.server.csp)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, data):
        self._send(status, json.dumps(data, allow_nan=False).encode(), "application/json")

    def _error(self, status, message):
        self._json(status, {"error": message})

    # ---- checks ----------------------------------------------------------------------
    def _allowed(self, query) -> bool:
        host = (self.headers.get("Host") or "").lower()
        port = self.server.server_address[1]
        if not re.fullmatch(rf"(127\.0\.0\.1|localhost|\[::1\]):{port}", host):
            self._error(403, "this server answers only to 127.0.0.1 and localhost")
            return False
        token = (query.get("token") or [""])[0]
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            self._send(403, b"403: this playground needs the token of the URL it printed when it started\n",
                       "text/plain; charset=utf-8")
            return False
        return True

    def _body(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _BadRequest(400, "Content-Length is not a number") from None
        if length > MAX_BODY:
            raise _BadRequest(413, f"the upload is {length // 1000} kB; the limit is {CSV_MAX_BYTES // 1000} kB")
        return self.rfile.read(length)

    def _json_body(self) -> dict:
        raw = self._body()
        try:
            data = json.loads(raw or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _BadRequest(400, "the request body is not JSON") from None
        if not isinstance(data, dict):
            raise _BadRequest(400, "the request body must be a JSON object")
        return data

    # ---- routes -----------------------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/favicon.ico":
            self._send(404, b"", "text/plain")
            return
        if not self._allowed(query):
            return
        self.server.cancel_close()
        route = ROUTES.get((method, url.path))
        if route is None:
            self._error(404 if not any(p == url.path for _, p in ROUTES) else 405,
                        f"no {method} {url.path[:60]} here")
            return
        try:
            with self.server.lock:
                route(self, query)
        except _BadRequest as exc:
            self._error(exc.status, exc.message)
        except SettingsError as exc:
            self._error(400, str(exc))
        except Exception as exc:          # a bug: say so briefly, keep serving
            sys.stderr.write(f"playground: {method} {url.path}: {type(exc).__name__}: {exc}\n")
            self._error(500, f"the playground failed: {type(exc).__name__}: {str(exc)[:200]}")

    def page(self, query):
        self._send(200, self.server.page.encode(), "text/html; charset=utf-8")

    def state(self, query):
        self._json(200, self.server.session.snapshot())

    def config(self, query):
        self.server.session.configure(self._json_body())
        self._json(200, self.server.session.snapshot())

    def reset(self, query):
        self._json_body()
        self.server.session.reset()
        self._json(200, self.server.session.snapshot())

    def train(self, query):
        data = self._json_body()
        epochs = data.get("epochs")
        if epochs is not None and (not isinstance(epochs, int) or not 1 <= epochs <= 1000):
            raise _BadRequest(400, "epochs must be a whole number in [1, 1000]")
        seconds = data.get("seconds", 0.2)
        if not isinstance(seconds, (int, float)) or not 0 <= seconds <= 5:
            raise _BadRequest(400, "seconds must be a number in [0, 5]")
        self._json(200, self.server.session.train(epochs=epochs, seconds=float(seconds)))

    def trace(self, query):
        data = self._json_body()
        self._json(200, self.server.session.trace(data.get("subset"), data.get("index")))

    def drawing(self, query):
        data = self._json_body()
        self._json(200, {"svg": self.server.session.drawing_svg(data.get("subset"), data.get("index"))})

    def landscape(self, query):
        data = self._json_body()
        session = self.server.session
        self._json(200, session.landscape(data.get("a"), data.get("b"), int(data.get("cells", 31))))

    def weights(self, query):
        self._json(200, {"names": self.server.session.weight_names()})

    def upload(self, query):
        name = (query.get("name") or ["upload.csv"])[0][:200]
        raw = self._body()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _BadRequest(400, f"{name}: not UTF-8 text; save the table as CSV (UTF-8)") from None
        self.server.session.load_csv(text, name)
        self._json(200, self.server.session.snapshot())

    def bye(self, query):
        self._body()
        self.server.page_closed()          # before replying: a request after this reply cancels it
        self._send(204, b"", "text/plain")


ROUTES = {
    ("GET", "/"): _Handler.page,
    ("GET", "/api/state"): _Handler.state,
    ("GET", "/api/weights"): _Handler.weights,
    ("POST", "/api/config"): _Handler.config,
    ("POST", "/api/reset"): _Handler.reset,
    ("POST", "/api/train"): _Handler.train,
    ("POST", "/api/trace"): _Handler.trace,
    ("POST", "/api/drawing"): _Handler.drawing,
    ("POST", "/api/landscape"): _Handler.landscape,
    ("POST", "/api/upload"): _Handler.upload,
    ("POST", "/api/bye"): _Handler.bye,
}


class _BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def start(port=0, session=None, stop_when_closed=False) -> PlaygroundServer:
    """A playground server running in a background thread (for notebooks and tests).

    >>> server = start()
    >>> server.url.startswith("http://127.0.0.1:")
    True
    >>> server.shutdown(); server.server_close()
    """
    server = PlaygroundServer(port, session, stop_when_closed=stop_when_closed)
    threading.Thread(target=server.serve_forever, daemon=True, name="playground").start()
    return server


def serve(port=0, open_browser=True, settings=None, out=sys.stdout) -> int:
    """Run the playground until Ctrl-C or until its page is closed. Prints the URL first."""
    try:
        server = PlaygroundServer(port, Session(settings or {}), stop_when_closed=True, quiet=True)
    except OSError as exc:
        raise SettingsError(f"--port {port}: cannot listen there ({exc.strerror})") from None
    print(server.url, file=out, flush=True)
    print("autograd-lab playground: open the URL above; Ctrl-C (or closing the page) stops it.",
          file=out, flush=True)
    if open_browser:
        import webbrowser
        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
        print("the page was closed: playground stopped", file=out, flush=True)
    except KeyboardInterrupt:
        print("\nplayground stopped", file=out, flush=True)
    finally:
        server.server_close()
    return 0
