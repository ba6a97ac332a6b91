#!/usr/bin/env python3
"""HTTP/1.1 framing and request-smuggling table for a Gatehouse gateway listener.

Runs against any gateway listener (cleartext, or TLS with --tls). It starts its own raw TCP
back end, which records every byte the gateway sends it, configures an API `framing` in front
of that back end through the management API, then sends each case of the table as raw bytes on
a fresh connection and checks two things: what the client got (a status, or the connection
closed without a response), and what reached the back end (nothing at all for a refused
request, no complete request for a body found malformed after its head went out, and for a
good one exactly the request the client meant, with nothing smuggled behind it).

The expectations are what RFC 9110 / 9112 ask of a careful edge proxy, and what nginx, HAProxy
and Envoy do; where the RFC leaves a choice, the case says which one it asserts and why. A case
the gateway fails today and that is not fixed yet carries `known_failure` with the reason, for
the HTTP/1.1 engines it applies to (`--engine`: the gateway's own relay, or hyper behind
`--http1-engine hyper`): it is reported separately and does not fail the run, but a known
failure that starts passing does, so that the list stays true.

    python3 tests/edge/http1_table.py --gateway 127.0.0.1:8000 \\
        --admin http://127.0.0.1:8001 --token "$(cat gatehouse-data/admin-token)"

Exit status: 0 when every case passes (known failures aside), 1 otherwise, 2 on a setup error.
"""

import argparse
import json
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request

API_ID = "framing"
HOST = b"gw.example"

# How long the client waits for the gateway, and how long a refused request's connection may
# stay open after the answer.
READ_TIMEOUT = 5.0
CLOSE_TIMEOUT = 2.0


# ---------------------------------------------------------------------------------------------
# The back end: raw TCP, records every byte, answers each request it can parse with 200 "ok".


class Backend:
    """A raw HTTP/1.1 back end on 127.0.0.1:0 that records what arrives, per connection."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        # (connection id, kind, detail) in arrival order; kinds: "bytes" (raw bytes),
        # "request" (a complete request), "incomplete" (the connection ended inside a
        # request), "error" (bytes this back end could not parse as HTTP/1.1).
        self.events = []
        self.next_conn = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def mark(self):
        with self.lock:
            return len(self.events)

    def since(self, mark):
        with self.lock:
            return list(self.events[mark:])

    def _record(self, conn_id, kind, detail):
        with self.lock:
            self.events.append((conn_id, kind, detail))

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.next_conn += 1
                conn_id = self.next_conn
            threading.Thread(target=self._serve, args=(conn, conn_id), daemon=True).start()

    def _serve(self, conn, conn_id):
        reader = _BackendReader(conn, conn_id, self)
        try:
            while True:
                request = {"conn": conn_id}
                try:
                    if not reader.wait_for_data():
                        return
                    _read_request(reader, request)
                except EOFError:
                    if request.get("method") is not None or reader.buf:
                        request["unparsed"] = bytes(reader.buf)
                        self._record(conn_id, "incomplete", request)
                    return
                except ValueError as e:
                    self._record(conn_id, "error", {"why": str(e), "rest": bytes(reader.buf)})
                    return
                self._record(conn_id, "request", request)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            return
        finally:
            conn.close()


class _BackendReader:
    def __init__(self, conn, conn_id, backend):
        self.conn = conn
        self.conn_id = conn_id
        self.backend = backend
        self.buf = bytearray()

    def _fill(self):
        try:
            data = self.conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            raise EOFError
        self.backend._record(self.conn_id, "bytes", data)
        self.buf += data

    def wait_for_data(self):
        """False when the connection ends cleanly between requests."""
        if self.buf:
            return True
        try:
            self._fill()
        except EOFError:
            return False
        return True

    def until(self, delimiter, limit):
        while True:
            at = self.buf.find(delimiter)
            if at >= 0:
                out = bytes(self.buf[:at])
                del self.buf[: at + len(delimiter)]
                return out
            if len(self.buf) > limit:
                raise ValueError("no %r within %d bytes" % (delimiter, limit))
            self._fill()

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def _read_request(reader, request):
    """Reads one request, filling `request` as it goes so that a cut-off one can be shown."""
    head = reader.until(b"\r\n\r\n", 1 << 20)
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise ValueError("bad request line %r" % lines[0])
    request["method"] = parts[0].decode("latin-1")
    request["target"] = parts[1].decode("latin-1")
    request["version"] = parts[2].decode("latin-1")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or b"\r" in line or b"\n" in line:
            raise ValueError("bad header line %r" % line)
        headers.append((name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")))
    request["headers"] = headers
    request["body"] = b""
    request["trailers"] = []
    te = [v for n, v in headers if n == "transfer-encoding"]
    cl = [v for n, v in headers if n == "content-length"]
    if te:
        if cl or [c.strip().lower() for c in ",".join(te).split(",")] != ["chunked"]:
            raise ValueError("framing headers a back end cannot trust: TE %r, CL %r" % (te, cl))
        body = b""
        while True:
            size_line = reader.until(b"\r\n", 4096)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body += reader.exactly(size)
            request["body"] = body
            if reader.exactly(2) != b"\r\n":
                raise ValueError("chunk data not followed by CRLF")
        while True:
            line = reader.until(b"\r\n", 65536)
            if not line:
                break
            name, _, value = line.partition(b":")
            request["trailers"].append(
                (name.decode("latin-1").lower(), value.strip().decode("latin-1"))
            )
        request["body"] = body
    elif cl:
        if len(cl) != 1 or not cl[0].isdigit():
            raise ValueError("Content-Length a back end cannot trust: %r" % cl)
        request["length"] = int(cl[0])
        request["body"] = reader.exactly(int(cl[0]))


# ---------------------------------------------------------------------------------------------
# The table.


class Req:
    """A request the back end must receive: method, target, exact body, and headers that must
    have a value (a string) or be absent (None)."""

    def __init__(self, method, target, body=b"", headers=None):
        self.method = method
        self.target = target
        self.body = body
        self.headers = headers or {}

    def describe(self):
        return "%s %s (%d body bytes)" % (self.method, self.target, len(self.body))


# Back-end expectation for a refused request: not one byte reaches the back end.
NOTHING = "nothing"
# Back-end expectation for a request whose body turns out malformed after its head was
# forwarded: bodies are streamed, so the back end may see the head and the body up to the bad
# bytes, but the gateway must then close that connection, so the back end never holds a
# complete request, and nothing arrives after it. (Only a gateway that buffers whole request
# bodies before forwarding, as nginx does by default, can promise NOTHING here.)
CUT_OFF = "no complete request"


class Case:
    def __init__(
        self,
        name,
        send,
        status,
        backend,
        why,
        close=None,
        known_failure=None,
    ):
        self.name = name
        # bytes, or a list of steps: bytes to send, or WAIT_100 to wait for an interim 100.
        self.send = send if isinstance(send, list) else [send]
        # An int, a list of ints (pipelined requests, in order), or "closed": the gateway
        # closes without answering.
        self.status = status
        self.backend = backend
        self.why = why
        # Refusals must close the connection (RFC 9112 §6.3: after a framing error the rest
        # of the stream cannot be trusted); good requests leave it open.
        self.close = close if close is not None else (backend in (NOTHING, CUT_OFF))
        # A reason (every engine), or {engine: reason}.
        if isinstance(known_failure, dict):
            known_failure = known_failure.get(ENGINE)
        self.known_failure = known_failure


WAIT_100 = object()

# The HTTP/1.1 engine under test (--engine); a known failure applies to the engines it names.
ENGINE = "gatehouse"


def hyper_only(reason):
    """A known failure of the hyper engine only; the gateway's own relay passes the case."""
    return {"hyper": reason}


def head(method, target, *headers, version=b"HTTP/1.1", host=True):
    lines = [method + b" " + target + b" " + version]
    if host:
        lines.append(b"Host: " + HOST)
    lines.extend(headers)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def cases(backend_host):
    fwd = {"host": backend_host, "x-forwarded-host": HOST.decode()}
    no_framing = {"content-length": None, "transfer-encoding": None}
    chunked_hello = b"5\r\nhello\r\n0\r\n\r\n"
    return [
        # --- Good controls: exactly the client's request reaches the back end. -----------
        Case(
            "get_plain",
            head(b"GET", b"/framing/plain?q=1"),
            200,
            [Req("GET", "/base/plain?q=1", b"", dict(fwd, **no_framing))],
            "a plain GET is forwarded once, with no body framing invented",
        ),
        Case(
            "post_content_length",
            head(b"POST", b"/framing/cl", b"Content-Length: 11") + b"hello world",
            200,
            [Req("POST", "/base/cl", b"hello world", {"content-length": "11"})],
            "a Content-Length body arrives whole",
        ),
        Case(
            "post_chunked_with_trailers",
            head(b"POST", b"/framing/chunked", b"Transfer-Encoding: chunked")
            + b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n",
            200,
            [Req("POST", "/base/chunked", b"hello world", {"x-checksum": None})],
            "a chunked body arrives decoded to the same bytes; a trailer never becomes a header "
            "(RFC 9110 §6.5.1; a proxy MAY drop trailers, RFC 9112 §7.1.2)",
        ),
        Case(
            "pipelined_two_gets",
            head(b"GET", b"/framing/one") + head(b"GET", b"/framing/two"),
            [200, 200],
            [Req("GET", "/base/one"), Req("GET", "/base/two")],
            "pipelined requests are answered in order (RFC 9112 §9.3.2)",
        ),
        Case(
            "body_longer_than_content_length_is_pipelined",
            head(b"POST", b"/framing/first", b"Content-Length: 5")
            + b"hello"
            + head(b"GET", b"/framing/second"),
            [200, 200],
            [Req("POST", "/base/first", b"hello"), Req("GET", "/base/second")],
            "bytes after Content-Length are the next request (RFC 9112 §6.3): the second is a "
            "legitimate pipelined GET, forwarded as its own request, never as body",
        ),
        Case(
            "te_odd_case",
            head(b"POST", b"/framing/odd-case", b"Transfer-Encoding: Chunked") + chunked_hello,
            200,
            [Req("POST", "/base/odd-case", b"hello")],
            "transfer-coding names are case-insensitive (RFC 9112 §7)",
        ),
        Case(
            "te_surrounding_whitespace",
            head(b"POST", b"/framing/ows", b"Transfer-Encoding: \t chunked \t") + chunked_hello,
            200,
            [Req("POST", "/base/ows", b"hello")],
            "whitespace around a field value is not part of it (RFC 9112 §5)",
        ),
        Case(
            "chunk_extension",
            head(b"POST", b"/framing/ext", b"Transfer-Encoding: chunked")
            + b"5;name=value\r\nhello\r\n0\r\n\r\n",
            200,
            [Req("POST", "/base/ext", b"hello")],
            "unknown chunk extensions are ignored (RFC 9112 §7.1.1)",
        ),
        Case(
            "expect_100_continue",
            [
                head(b"POST", b"/framing/continue", b"Content-Length: 5", b"Expect: 100-continue"),
                WAIT_100,
                b"hello",
            ],
            200,
            [Req("POST", "/base/continue", b"hello")],
            "the client gets 100 Continue before it sends the body, then the final answer "
            "(RFC 9110 §10.1.1)",
        ),
        Case(
            "upgrade_h2c_ignored",
            head(
                b"GET",
                b"/framing/h2c",
                b"Connection: Upgrade, HTTP2-Settings",
                b"Upgrade: h2c",
                b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
            ),
            200,
            [
                Req(
                    "GET",
                    "/base/h2c",
                    b"",
                    {"upgrade": None, "http2-settings": None, "connection": None},
                )
            ],
            "h2c upgrades are deprecated (RFC 9113 §3.1) and a server MAY ignore Upgrade (RFC "
            "9110 §7.8): answered over HTTP/1.1, and Upgrade never reaches the back end "
            "(h2c smuggling)",
        ),
        Case(
            "absolute_form_other_host",
            b"GET http://target.example/framing/absolute HTTP/1.1\r\n"
            b"Host: other.example\r\n\r\n",
            200,
            [Req("GET", "/base/absolute", b"", {"x-forwarded-host": "target.example"})],
            "with an absolute-form target the Host header is ignored and the target's "
            "authority is the host (RFC 9112 §3.2.2)",
        ),
        Case(
            "absolute_form_with_userinfo",
            b"GET http://user@target.example/framing/x HTTP/1.1\r\nHost: target.example\r\n\r\n",
            400,
            NOTHING,
            "userinfo in a target is deprecated and SHOULD be treated as an error (RFC 9110 "
            "§4.2.4): it disguises the authority",
        ),
        Case(
            "bare_lf_line_endings",
            b"GET /framing/lf HTTP/1.1\nHost: gw.example\n\n",
            200,
            [Req("GET", "/base/lf")],
            "a recipient MAY take a bare LF as a line end in the head (RFC 9112 §2.2), as "
            "nginx does; the gateway re-frames the request, so the back end sees CRLF only",
        ),
        Case(
            "obs_text_in_header_value",
            head(b"GET", b"/framing/obs-text", b"X-Name: caf\xe9"),
            200,
            [Req("GET", "/base/obs-text", b"", {"x-name": "caf\xe9"})],
            "obs-text (0x80-0xFF) is allowed in field values (RFC 9110 §5.5) and kept as is",
        ),
        # --- Ambiguous body framing: 400, close, nothing forwarded. ----------------------
        Case(
            "content_length_then_te_chunked",
            head(
                b"POST",
                b"/framing/cl-te",
                b"Content-Length: 6",
                b"Transfer-Encoding: chunked",
            )
            + b"0\r\n\r\nG",
            400,
            NOTHING,
            "Content-Length with Transfer-Encoding is the classic CL.TE smuggle; RFC 9112 "
            "§6.1 allows refusing it, and nginx and Envoy do",
            known_failure=hyper_only(
                "hyper takes RFC 9112 §6.1's other option: it decodes by Transfer-Encoding, "
                "drops Content-Length before the gateway sees the request and closes after "
                "answering; the request is forwarded"
            ),
        ),
        Case(
            "te_chunked_then_content_length",
            head(
                b"POST",
                b"/framing/te-cl",
                b"Transfer-Encoding: chunked",
                b"Content-Length: 6",
            )
            + b"0\r\n\r\nG",
            400,
            NOTHING,
            "TE.CL, the same ambiguity in the other order",
            known_failure=hyper_only(
                "as content_length_then_te_chunked: hyper drops the Content-Length it finds "
                "after Transfer-Encoding"
            ),
        ),
        Case(
            "two_different_content_lengths",
            head(b"POST", b"/framing/x", b"Content-Length: 5", b"Content-Length: 6") + b"hello!",
            400,
            NOTHING,
            "differing Content-Length values are unrecoverable (RFC 9112 §6.3 item 5)",
        ),
        Case(
            "content_length_list_same",
            head(b"POST", b"/framing/x", b"Content-Length: 5, 5") + b"hello",
            400,
            NOTHING,
            "RFC 9110 §8.6 lets a recipient refuse a list even of equal values; refused, as "
            "nginx does",
        ),
        Case(
            "content_length_lines_same",
            head(b"POST", b"/framing/x", b"Content-Length: 5", b"Content-Length: 5") + b"hello",
            400,
            NOTHING,
            "two equal Content-Length lines are the list `5, 5` (RFC 9110 §5.3) and get the "
            "same answer; nginx refuses a duplicate Content-Length line",
            known_failure=hyper_only(
                "hyper merges equal Content-Length lines into one before the gateway sees "
                "them, so the request is forwarded with one Content-Length: 5"
            ),
        ),
        Case(
            "content_length_list_differs",
            head(b"POST", b"/framing/x", b"Content-Length: 5, 6") + b"hello!",
            400,
            NOTHING,
            "a list of differing lengths is unrecoverable (RFC 9112 §6.3 item 5)",
        ),
        Case(
            "content_length_negative",
            head(b"POST", b"/framing/x", b"Content-Length: -1") + b"hello",
            400,
            NOTHING,
            "Content-Length is 1*DIGIT (RFC 9110 §8.6); invalid is unrecoverable (RFC 9112 §6.3)",
        ),
        Case(
            "content_length_plus_sign",
            head(b"POST", b"/framing/x", b"Content-Length: +5") + b"hello",
            400,
            NOTHING,
            "a sign is not a DIGIT (RFC 9110 §8.6)",
        ),
        Case(
            "content_length_non_numeric",
            head(b"POST", b"/framing/x", b"Content-Length: abc") + b"hello",
            400,
            NOTHING,
            "a non-numeric Content-Length is invalid (RFC 9112 §6.3 item 5)",
        ),
        Case(
            "content_length_huge",
            head(b"POST", b"/framing/x", b"Content-Length: 99999999999999999999999") + b"hello",
            400,
            NOTHING,
            "a length that overflows 64 bits cannot be honoured; refuse rather than wrap "
            "(RFC 9110 §8.6 on overflow)",
        ),
        Case(
            "te_gzip",
            head(b"POST", b"/framing/x", b"Transfer-Encoding: gzip") + b"hello",
            400,
            NOTHING,
            "chunked not final: the length cannot be determined, MUST 400 and close "
            "(RFC 9112 §6.3 item 4)",
        ),
        Case(
            "te_identity",
            head(b"POST", b"/framing/x", b"Transfer-Encoding: identity", b"Content-Length: 5")
            + b"hello",
            400,
            NOTHING,
            "`identity` is no transfer coding any more (RFC 9112 §7) and chunked is not final",
        ),
        Case(
            "te_chunked_not_last",
            head(b"POST", b"/framing/x", b"Transfer-Encoding: chunked, gzip") + chunked_hello,
            400,
            NOTHING,
            "chunked not final: MUST 400 and close (RFC 9112 §6.3 item 4)",
        ),
        Case(
            "te_gzip_then_chunked",
            head(b"POST", b"/framing/x", b"Transfer-Encoding: gzip, chunked") + chunked_hello,
            501,
            NOTHING,
            "a transfer coding the gateway does not implement: SHOULD 501 (RFC 9112 §6.1), as "
            "nginx answers; forwarding it with Transfer-Encoding stripped would hand the back "
            "end gzip bytes it was not told about",
        ),
        Case(
            "te_chunked_twice_lines",
            head(
                b"POST",
                b"/framing/x",
                b"Transfer-Encoding: chunked",
                b"Transfer-Encoding: chunked",
            )
            + chunked_hello,
            400,
            NOTHING,
            "two lines make the list `chunked, chunked`: chunked MUST NOT be applied twice "
            "(RFC 9112 §6.1), and nginx refuses a duplicate Transfer-Encoding line",
        ),
        Case(
            "te_chunked_twice_list",
            head(b"POST", b"/framing/x", b"Transfer-Encoding: chunked, chunked") + chunked_hello,
            400,
            NOTHING,
            "chunked MUST NOT be applied more than once (RFC 9112 §6.1)",
        ),
        Case(
            "te_in_http10",
            head(b"POST", b"/framing/x", b"Transfer-Encoding: chunked", version=b"HTTP/1.0")
            + chunked_hello,
            400,
            NOTHING,
            "an HTTP/1.0 message with Transfer-Encoding MUST be treated as faulty framing "
            "(RFC 9112 §6.1)",
        ),
        # --- Malformed heads: 400, close, nothing forwarded. -----------------------------
        Case(
            "obs_fold",
            head(b"GET", b"/framing/x", b"X-Note: first", b"  continued"),
            400,
            NOTHING,
            "obs-fold: reject or replace with SP (RFC 9112 §5.2); refused, as nginx and "
            "Envoy do",
        ),
        Case(
            "obs_fold_hides_transfer_encoding",
            head(
                b"POST",
                b"/framing/x",
                b"Content-Length: 5",
                b"X-Pad: x",
                b" Transfer-Encoding: chunked",
            )
            + b"hello",
            400,
            NOTHING,
            "a folded line that reads as Transfer-Encoding to a lenient parser",
        ),
        Case(
            "bare_cr_in_header",
            head(b"GET", b"/framing/x", b"X-A: a\rTransfer-Encoding: chunked"),
            400,
            NOTHING,
            "a bare CR MUST be rejected or replaced with SP (RFC 9112 §2.2); refused",
        ),
        Case(
            "space_before_colon",
            head(b"POST", b"/framing/x", b"Content-Length: 5", b"Transfer-Encoding : chunked")
            + b"hello",
            400,
            NOTHING,
            "whitespace between field name and colon MUST get 400 (RFC 9112 §5.1)",
        ),
        Case(
            "nul_in_header_name",
            head(b"GET", b"/framing/x", b"X-A\x00B: 1"),
            400,
            NOTHING,
            "a field name is a token (RFC 9110 §5.1)",
        ),
        Case(
            "nul_in_header_value",
            head(b"GET", b"/framing/x", b"X-A: a\x00b"),
            400,
            NOTHING,
            "NUL in a field value MUST be rejected or replaced (RFC 9110 §5.5); refused",
        ),
        Case(
            "del_in_header_name",
            head(b"GET", b"/framing/x", b"X-A\x7fB: 1"),
            400,
            NOTHING,
            "0x7F is not a token character (RFC 9110 §5.6.2)",
        ),
        Case(
            "del_in_header_value",
            head(b"GET", b"/framing/x", b"X-A: a\x7fb"),
            400,
            NOTHING,
            "0x7F is neither VCHAR nor obs-text (RFC 9110 §5.5)",
        ),
        Case(
            "non_ascii_in_header_name",
            head(b"GET", b"/framing/x", b"X-Caf\xc3\xa9: 1"),
            400,
            NOTHING,
            "a field name is a token, ASCII only (RFC 9110 §5.6.2)",
        ),
        Case(
            "host_missing",
            head(b"GET", b"/framing/x", host=False),
            400,
            NOTHING,
            "an HTTP/1.1 request without Host MUST get 400 (RFC 9112 §3.2)",
        ),
        Case(
            "host_twice",
            head(b"GET", b"/framing/x", b"Host: other.example"),
            400,
            NOTHING,
            "more than one Host line MUST get 400 (RFC 9112 §3.2)",
        ),
        Case(
            "host_invalid",
            b"GET /framing/x HTTP/1.1\r\nHost: gw example\r\n\r\n",
            400,
            NOTHING,
            "an invalid Host value MUST get 400 (RFC 9112 §3.2)",
        ),
        Case(
            "method_invalid_token",
            head(b"GE(T", b"/framing/x"),
            400,
            NOTHING,
            "a method is a token (RFC 9110 §9.1)",
        ),
        Case(
            "request_line_two_spaces",
            head(b"GET ", b"/framing/x"),
            400,
            NOTHING,
            "lenient whitespace in the request line invites smuggling (RFC 9112 §3); refused",
        ),
        Case(
            "request_line_missing_version",
            b"GET /framing/x\r\nHost: gw.example\r\n\r\n",
            400,
            NOTHING,
            "no HTTP-version: not an HTTP/1.x request line (RFC 9112 §3); HTTP/0.9 is not spoken",
        ),
        Case(
            "version_http_1_2",
            head(b"GET", b"/framing/v12", version=b"HTTP/1.2"),
            200,
            [Req("GET", "/base/v12")],
            "a higher minor version SHOULD be processed as the highest one implemented, 1.1 "
            "(RFC 9110 §2.5), as nginx does",
            known_failure=hyper_only("httparse accepts only HTTP/1.0 and HTTP/1.1; hyper answers 400"),
        ),
        Case(
            "version_http_2_0",
            head(b"GET", b"/framing/x", version=b"HTTP/2.0"),
            505,
            NOTHING,
            "major version 2 is not HTTP/1 syntax: 505 (RFC 9110 §15.6.6), as nginx answers",
            known_failure=hyper_only(
                "httparse reports any version but 1.0/1.1 as a parse error; hyper answers 400 "
                "(still refused, nothing forwarded)"
            ),
        ),
        # --- Bad chunked bodies: the head is valid and may be forwarded before the bad bytes
        # arrive (see CUT_OFF). 400 and close, as nginx and Envoy answer.
        Case(
            "chunk_size_overflow",
            head(b"POST", b"/framing/x", b"Transfer-Encoding: chunked")
            + b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
            400,
            CUT_OFF,
            "a chunk size beyond 64 bits cannot be honoured (RFC 9112 §7.1: overflow)",
        ),
        Case(
            "chunk_size_invalid_char",
            head(b"POST", b"/framing/x", b"Transfer-Encoding: chunked")
            + b"5g\r\nhello\r\n0\r\n\r\n",
            400,
            CUT_OFF,
            "chunk-size is 1*HEXDIG (RFC 9112 §7.1)",
        ),
        Case(
            "chunk_size_bare_lf",
            head(b"POST", b"/framing/x", b"Transfer-Encoding: chunked")
            + b"5\nhello\r\n0\r\n\r\n",
            400,
            CUT_OFF,
            "chunk lines end in CRLF (RFC 9112 §7.1); the bare-LF allowance of §2.2 covers "
            "only the head",
        ),
        Case(
            "chunk_data_overrun",
            head(b"POST", b"/framing/x", b"Transfer-Encoding: chunked")
            + b"3\r\nhello\r\n0\r\n\r\n",
            400,
            CUT_OFF,
            "chunk data longer than its size is not followed by CRLF (RFC 9112 §7.1)",
        ),
        Case(
            "chunk_final_missing_then_request",
            head(b"POST", b"/framing/first", b"Transfer-Encoding: chunked")
            + b"5\r\nhello\r\n"
            + head(b"GET", b"/framing/smuggled"),
            400,
            CUT_OFF,
            "without its last chunk the body never ends; the bytes where a chunk size belongs "
            "are invalid, and the GET inside MUST NOT become a request",
        ),
        # --- Limits, at the gateway's defaults (README: --max-request-line 8 KiB,
        # --max-header-bytes 32 KiB, --max-headers 100). ---------------------------------
        Case(
            "request_line_just_under_the_limit",
            head(b"GET", b"/framing/" + b"a" * (8 * 1024 - 40)),
            200,
            [Req("GET", "/base/" + "a" * (8 * 1024 - 40))],
            "a request line within --max-request-line is served",
        ),
        Case(
            "long_request_line",
            head(b"GET", b"/framing/" + b"a" * (9 * 1024)),
            414,
            NOTHING,
            "a request line past --max-request-line (8 KiB, as nginx) gets 414",
        ),
        Case(
            "huge_request_line",
            head(b"GET", b"/framing/" + b"a" * (100 * 1024)),
            414,
            NOTHING,
            "a request line far past the limit gets 414 before the head buffer fills",
        ),
        Case(
            "large_header",
            head(b"GET", b"/framing/large-header", b"X-Large: " + b"a" * (40 * 1024)),
            431,
            NOTHING,
            "header fields past --max-header-bytes (32 KiB) get 431",
        ),
        Case(
            "many_headers",
            head(b"GET", b"/framing/x", *[b"X-H%d: 1" % i for i in range(120)]),
            431,
            NOTHING,
            "more than --max-headers (100) header fields get 431",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# The client side: one fresh connection per case.


class Outcome:
    def __init__(self):
        self.interim = []  # 1xx statuses
        self.statuses = []
        self.closed = False  # the gateway closed (FIN or reset)
        self.note = ""  # timeout, reset, send failure

    def describe(self):
        parts = []
        if self.interim:
            parts.append("+".join(str(s) for s in self.interim))
        if self.statuses:
            parts.append(" ".join(str(s) for s in self.statuses))
        else:
            parts.append("no response")
        parts.append("closed" if self.closed else "open")
        text = ", ".join(parts)
        return text + (" (%s)" % self.note if self.note else "")


class _Eof(Exception):
    pass


class _ClientReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError) as e:
            raise _Eof(type(e).__name__) from e
        if not data:
            raise _Eof("")
        self.buf += data

    def until(self, delimiter):
        while True:
            at = self.buf.find(delimiter)
            if at >= 0:
                out = bytes(self.buf[:at])
                del self.buf[: at + len(delimiter)]
                return out
            self._fill()

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def response(self):
        """(status, headers) of the next response, its body read."""
        head = self.until(b"\r\n\r\n").split(b"\r\n")
        status = int(head[0].split(b" ")[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        if status >= 200 and status not in (204, 304):
            if "chunked" in headers.get("transfer-encoding", "").lower():
                while True:
                    size = int(self.until(b"\r\n").split(b";")[0], 16)
                    if size == 0:
                        while self.until(b"\r\n"):
                            pass
                        break
                    self.exactly(size + 2)
            elif "content-length" in headers:
                self.exactly(int(headers["content-length"]))
            else:
                while True:
                    self._fill()
        return status, headers


def connect(args):
    host, _, port = args.gateway.rpartition(":")
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=READ_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if args.tls:
        context = ssl.create_default_context(cafile=args.ca)
        sock = context.wrap_socket(sock, server_hostname=args.server_name or host.strip("[]"))
    return sock


def run_client(args, case):
    outcome = Outcome()
    sock = connect(args)
    reader = _ClientReader(sock)
    expected = len(case.status) if isinstance(case.status, list) else 1
    try:
        for step in case.send:
            if step is WAIT_100:
                try:
                    status, _ = reader.response()
                except socket.timeout:
                    outcome.note = "no 100 Continue"
                    continue
                if 100 <= status < 200:
                    outcome.interim.append(status)
                else:
                    outcome.statuses.append(status)
                continue
            try:
                sock.sendall(step)
            except (BrokenPipeError, ConnectionResetError):
                outcome.note = "gateway stopped reading"
                break
        while len(outcome.statuses) < expected:
            status, _ = reader.response()
            if 100 <= status < 200:
                outcome.interim.append(status)
            else:
                outcome.statuses.append(status)
        # Does the gateway close? A refused request must; a good one must not.
        sock.settimeout(CLOSE_TIMEOUT if case.close else 0.2)
        try:
            reader._fill()
            outcome.note = "unexpected bytes after the response: %r" % bytes(reader.buf[:80])
        except socket.timeout:
            pass
    except _Eof as e:
        outcome.closed = True
        if str(e):
            outcome.note = str(e)
    except socket.timeout:
        outcome.note = "timeout"
    except (ValueError, IndexError) as e:
        outcome.note = "unparseable response: %s" % e
    finally:
        sock.close()
    return outcome


# ---------------------------------------------------------------------------------------------
# Checking a case.


def describe_backend(events):
    if not any(kind != "bytes" or data for _, kind, data in events):
        return "nothing"
    parts = []
    for _, kind, detail in events:
        if kind == "request":
            parts.append(
                "%s %s (%d body bytes)" % (detail["method"], detail["target"], len(detail["body"]))
            )
        elif kind == "incomplete":
            if detail.get("method"):
                parts.append(
                    "cut off: %s %s after %d body bytes"
                    % (detail["method"], detail["target"], len(detail.get("body", b"")))
                )
            else:
                parts.append("cut off: %r" % detail["unparsed"][:60])
        elif kind == "error":
            parts.append("unparseable: %s" % detail["why"])
    if not parts:
        total = sum(len(d) for _, k, d in events if k == "bytes")
        parts.append("%d raw bytes of an unfinished request" % total)
    return "; ".join(parts)


def check(case, outcome, events):
    """The reasons the case fails (empty when it passes)."""
    problems = []
    if case.status == "closed":
        if outcome.statuses or not outcome.closed:
            problems.append("expected the connection closed without a response")
    else:
        want = case.status if isinstance(case.status, list) else [case.status]
        if outcome.statuses != want:
            problems.append("expected status %s" % " ".join(str(s) for s in want))
        if case.close and not outcome.closed:
            problems.append("expected the connection closed after the answer")
        if not case.close and outcome.closed:
            problems.append("expected the connection kept open")
    if any(step is WAIT_100 for step in case.send) and 100 not in outcome.interim:
        problems.append("expected 100 Continue before the body was sent")
    if outcome.note.startswith("unexpected bytes") or outcome.note.startswith("unparseable"):
        problems.append(outcome.note)

    received = [d for _, k, d in events if k == "bytes"]
    requests = [d for _, k, d in events if k == "request"]
    broken = [(k, d) for _, k, d in events if k in ("incomplete", "error")]
    if case.backend == NOTHING:
        if any(received):
            problems.append("expected nothing at the back end")
    elif case.backend == CUT_OFF:
        if requests or any(k == "error" for k, _ in broken):
            problems.append("expected no complete request at the back end")
        elif any(received) and not broken:
            problems.append("expected the back end's connection closed inside the request")
    else:
        if broken:
            problems.append("the back end got a broken request")
        if len(requests) != len(case.backend):
            problems.append("expected %d request(s) at the back end" % len(case.backend))
        for want, got in zip(case.backend, requests):
            if (got["method"], got["target"]) != (want.method, want.target):
                problems.append(
                    "expected %s %s at the back end, got %s %s"
                    % (want.method, want.target, got["method"], got["target"])
                )
            if got["body"] != want.body:
                problems.append(
                    "expected body %r at the back end, got %r" % (want.body[:40], got["body"][:40])
                )
            for name, value in want.headers.items():
                values = [v for n, v in got["headers"] if n == name]
                if value is None and values:
                    problems.append("expected no %s at the back end, got %r" % (name, values))
                elif value is not None and values != [value]:
                    problems.append(
                        "expected %s: %r at the back end, got %r" % (name, value, values)
                    )
    return problems


# ---------------------------------------------------------------------------------------------
# Setup through the management API.


def admin_put(args, path, body):
    request = urllib.request.Request(
        args.admin.rstrip("/") + path,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={
            "Authorization": "Bearer " + args.token,
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        raise SystemExit(
            "setup: PUT %s answered %d: %s" % (path, e.code, e.read().decode(errors="replace"))
        ) from e


def configure(args, backend):
    service_url = "http://127.0.0.1:%d/base" % backend.port
    admin_put(args, "/apis/" + API_ID, {"properties": {"path": API_ID, "serviceUrl": service_url}})
    admin_put(
        args,
        "/apis/%s/operations/all" % API_ID,
        {"properties": {"method": "*", "urlTemplate": "/*"}},
    )


def main():
    parser = argparse.ArgumentParser(
        description="HTTP/1.1 framing and smuggling table for a Gatehouse gateway listener."
    )
    parser.add_argument("--gateway", required=True, help="HOST:PORT of the listener under test")
    parser.add_argument("--admin", required=True, help="management API base URL")
    parser.add_argument("--token", required=True, help="management API bearer token")
    parser.add_argument("--tls", action="store_true", help="the listener speaks TLS")
    parser.add_argument("--server-name", help="TLS server name (SNI and verification)")
    parser.add_argument("--ca", help="PEM file of the CA that issued the listener's certificate")
    parser.add_argument(
        "--engine",
        choices=["gatehouse", "hyper"],
        default="gatehouse",
        help="the gateway's --http1-engine (which known failures apply)",
    )
    parser.add_argument("--only", metavar="NAME", help="run one case")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.3,
        help="seconds to wait after each case for late bytes at the back end",
    )
    args = parser.parse_args()
    global ENGINE
    ENGINE = args.engine

    backend = Backend()
    table = cases("127.0.0.1:%d" % backend.port)
    names = [c.name for c in table]
    assert len(set(names)) == len(names), "duplicate case names"
    if args.only:
        table = [c for c in table if c.name == args.only]
        if not table:
            print("no case named %r; cases: %s" % (args.only, ", ".join(names)), file=sys.stderr)
            return 2
    try:
        configure(args, backend)
    except (OSError, urllib.error.URLError) as e:
        print("setup: management API unreachable: %s" % e, file=sys.stderr)
        return 2

    results = []
    for case in table:
        mark = backend.mark()
        try:
            outcome = run_client(args, case)
        except OSError as e:
            outcome = Outcome()
            outcome.note = "connect failed: %s" % e
        time.sleep(args.settle)
        events = backend.since(mark)
        problems = check(case, outcome, events)
        if case.known_failure:
            verdict = "KNOWN" if problems else "UNEXPECTED-PASS"
        else:
            verdict = "FAIL" if problems else "PASS"
        expected_status = (
            " ".join(str(s) for s in case.status)
            if isinstance(case.status, list)
            else str(case.status)
        )
        result = {
            "name": case.name,
            "verdict": verdict,
            "expected": {
                "client": expected_status + (", closed" if case.close else ""),
                "backend": case.backend
                if case.backend in (NOTHING, CUT_OFF)
                else "; ".join(r.describe() for r in case.backend),
            },
            "client": outcome.describe(),
            "backend": describe_backend(events),
            "problems": problems,
            "why": case.why,
            "known_failure": case.known_failure,
        }
        results.append(result)
        if not args.json:
            print(
                "%-15s %-46s client: %-22s backend: %s"
                % (verdict, case.name, result["client"], result["backend"])
            )
            if verdict == "UNEXPECTED-PASS":
                print("%15s now passes: remove its known_failure" % "")
            elif problems:
                print(
                    "%15s expected client %s, backend %s"
                    % ("", result["expected"]["client"], result["expected"]["backend"])
                )
                for problem in problems:
                    print("%15s - %s" % ("", problem))
                print("%15s rule: %s" % ("", case.why))
                if case.known_failure:
                    print("%15s known: %s" % ("", case.known_failure))

    counts = {}
    for r in results:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    ok = not counts.get("FAIL") and not counts.get("UNEXPECTED-PASS")
    if args.json:
        print(json.dumps({"ok": ok, "counts": counts, "cases": results}, indent=2))
    else:
        print(
            "\n%d cases: %d passed, %d failed, %d known failures, %d known failures now passing"
            % (
                len(results),
                counts.get("PASS", 0),
                counts.get("FAIL", 0),
                counts.get("KNOWN", 0),
                counts.get("UNEXPECTED-PASS", 0),
            )
        )
        known = [r for r in results if r["verdict"] == "KNOWN"]
        if known:
            print("known failures:")
            for r in known:
                print("  %s: %s" % (r["name"], r["known_failure"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
