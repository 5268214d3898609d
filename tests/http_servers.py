"""Local HTTP servers for the tests, on 127.0.0.1 (a free port) in a thread of the test process:
a directory as it is (:func:`serve_directory`), or files held in memory with switches to
corrupt, cut or ignore ranges (:func:`serve_files`: the transfer faults of the model zoo)."""
import contextlib
import functools
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple


@contextlib.contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[str]:
    """Serve in a thread while the block runs; yields the base URL; then shut down."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietDirectoryHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve a directory while the block runs; yields the base URL."""
    handler = functools.partial(_QuietDirectoryHandler, directory=str(directory))
    with _serving(ThreadingHTTPServer(('127.0.0.1', 0), handler)) as url:
        yield url


class FileServer(ThreadingHTTPServer):
    """Serves ``files`` (URL path -> bytes) and records ``requests`` ((path, Range header)).

    Switches: ``corrupt`` flips one byte of every body; ``ranges=False`` ignores Range
    requests (200 and the whole file); ``cut_after=n`` ends the next transfer after ``n`` bytes
    (then it serves normally again). ``url`` is the base URL while serving.
    """

    def __init__(self) -> None:
        super().__init__(('127.0.0.1', 0), _FileHandler)
        self.files: Dict[str, bytes] = {}
        self.requests: List[Tuple[str, Optional[str]]] = []
        self.corrupt, self.ranges, self.cut_after = False, True, None
        self.url = ''


class _FileHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        srv = self.server
        srv.requests.append((self.path, self.headers.get('Range')))
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        if srv.corrupt:
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        start = 0
        match = re.fullmatch(r'bytes=(\d+)-', self.headers.get('Range') or '')
        if match and srv.ranges:
            start = int(match[1])
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if srv.cut_after is not None:  # one interrupted transfer, then normal service
            self.wfile.write(body[:srv.cut_after])
            self.wfile.flush()
            srv.cut_after = None
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_files() -> Iterator[FileServer]:
    """A :class:`FileServer` serving while the block runs (add to its ``files`` at any time)."""
    server = FileServer()
    with _serving(server) as url:
        server.url = url
        yield server
