"""Test-only HTTP shim over chDB (from docs/clickhouse.md appendix A, verified there).

It speaks enough of ClickHouse's HTTP interface for clickhouse-connect's HTTP client (with
compress=False), so the server code path of the Store runs against the real 26.9 engine.
Run: python chshim.py <data_dir> <port>. Not a server: a transport test double.
"""

# ruff: noqa
import chdb, json, re, sys, threading, uuid
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qsl

PATH, PORT = sys.argv[1], int(sys.argv[2])
ENGINE = chdb.connect(PATH)  # keeps the engine alive
_local = threading.local()


def conn():
    if not hasattr(_local, "c"):
        _local.c = chdb.connect(PATH)  # one connection per handler thread
    return _local.c


NOT_SETTINGS = {
    "query",
    "database",
    "query_id",
    "session_id",
    "session_timeout",
    "session_check",
    "compress",
    "decompress",
    "default_format",
    "user",
    "password",
    "client_protocol_version",
    "buffer_size",
    "wait_end_of_query",
    "quota_key",
}
FMT_RE = re.compile(r"\bFORMAT\s+(\w+)\s*$", re.I)
INSERT_RE = re.compile(r"^\s*INSERT\s", re.I)
BODY_INSERT_RE = re.compile(rb"^\s*INSERT\s.*?\bFORMAT\s+\w+[ \t]*\r?\n", re.I | re.S)


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _reply(self, code, body, fmt="TabSeparated", extra=None):
        self.send_response(code)
        hdrs = {
            "Content-Type": "application/octet-stream",
            "X-ClickHouse-Server-Display-Name": "chdb-shim",
            "X-ClickHouse-Query-Id": self.qid,
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Timezone": "UTC",
            "X-ClickHouse-Summary": json.dumps(
                {
                    "read_rows": "0",
                    "read_bytes": "0",
                    "written_rows": str(self.written),
                    "written_bytes": "0",
                    "total_rows_to_read": "0",
                    "result_rows": "0",
                    "result_bytes": "0",
                    "elapsed_ns": "0",
                }
            ),
            "Content-Length": str(len(body)),
        }
        hdrs.update(extra or {})
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.handle_q(b"")

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().strip(), 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            body = b"".join(chunks)
        else:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
        self.handle_q(body)

    def handle_q(self, body):
        self.qid, self.written = str(uuid.uuid4()), 0
        u = urlparse(self.path)
        if u.path == "/ping":
            return self._reply(200, b"Ok.\n")
        p = dict(parse_qsl(u.query, keep_blank_values=True))
        if self.headers.get("Content-Encoding"):
            return self._reply(
                500,
                b"Code: 1. DB::Exception: shim: compressed bodies unsupported",
                extra={"X-ClickHouse-Exception-Code": "1"},
            )
        sql, data = p.get("query"), None
        if sql is None:
            m = BODY_INSERT_RE.match(body)
            if m:
                sql, data = body[: m.end()].decode().strip(), body[m.end() :]
            else:
                sql = body.decode()
        elif body:
            if INSERT_RE.match(sql):
                data = body
            else:
                sql = sql + "\n" + body.decode()
        settings = {
            k: v for k, v in p.items() if k not in NOT_SETTINGS and not k.startswith("param_")
        }
        params = {k[6:]: v for k, v in p.items() if k.startswith("param_")}
        c = conn()
        try:
            if p.get("database"):
                c.query(f"USE `{p['database']}`")
            for k, v in settings.items():
                c.query(
                    f"SET {k} = {v}" if re.fullmatch(r"-?\d+(\.\d+)?", v) else f"SET {k} = '{v}'"
                )
            if data is not None:
                m = FMT_RE.search(sql)
                fmt = m.group(1) if m else "TabSeparated"
                with c.send_insert(sql[: m.start()] if m else sql, fmt) as ins:
                    ins.append(data)
                    self.written = ins.finish().rows_written
                return self._reply(200, b"")
            m = FMT_RE.search(sql.strip().rstrip(";"))
            fmt = m.group(1) if m else p.get("default_format", "TabSeparated")
            return self._reply(200, c.query(sql, fmt, params=params or None).bytes(), fmt)
        except Exception as e:
            code = re.search(r"Code: (\d+)", str(e))
            return self._reply(
                500,
                str(e).encode(),
                extra={"X-ClickHouse-Exception-Code": code.group(1) if code else "1"},
            )


ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
