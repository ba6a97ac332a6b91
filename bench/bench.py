#!/usr/bin/env python3
"""Gatehouse vs nginx vs HAProxy: plain HTTP in (M7: TLS in), mutual TLS out, to one nginx back
end that requires a client certificate. Started by bench/run; see BENCHMARKS.md for the figures.

Every server is started here, recorded by PID and stopped by PID. Proxies and back end share
SRVCPU; wrk, openssl s_time and probes run on LOADCPU.
"""

import asyncio
import base64
import collections
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
DUR = int(os.environ.get("DUR", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
CONNS = int(os.environ.get("CONNS", "50"))
IDLE_N = int(os.environ.get("IDLE_N", "9000"))
# M5 changes the certificate 3 s into its load and probes until the load ends: at least 6 s.
M5_DUR = max(DUR, 6)
LOADCPU = os.environ.get("LOADCPU", "0")
SRVCPU = os.environ.get("SRVCPU", "1")
BIN = os.environ["GATEHOUSE_BIN"]
COUNTING_BIN = os.environ.get("GATEHOUSE_COUNTING_BIN", "")
# M7 (b): concurrent `openssl s_time -new` processes, each one connection at a time.
HANDSHAKE_CLIENTS = int(os.environ.get("HANDSHAKE_CLIENTS", "16"))
WORK = os.environ.get("DIR") or tempfile.mkdtemp(prefix="gatehouse-bench.")
HZ = os.sysconf("SC_CLK_TCK")
TOKEN = "bench-admin-token-0123456789abcdef"
ADMIN = "http://127.0.0.1:8301"
GW = "http://127.0.0.1:8381"
SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

# Each proxy: where wrk sends pooled traffic, full-handshake traffic with the proxy's defaults
# ("full") and like for like ("full_like", the same back-end cipher preference for all three and
# no verified-chain cache), TLS-in traffic (M7), and which process (PIDFILE key) serves each.
# nginx and HAProxy serve "full_like" and M7 from a second process (proxy-*-extra.*), since
# the anchor's config files stay as they were; Gatehouse serves M7 from its own process's TLS
# listener, and "full_like" from a second process started with --backend-chain-cache false.
PROXIES = {
    "nginx": {"pooled": "http://127.0.0.1:8081/", "full": "http://127.0.0.1:8083/",
              "full_like": "http://127.0.0.1:8087/", "full_like_proc": "nginx-extra",
              "tls_port": 8086, "tls_path": "/", "tls_proc": "nginx-extra"},
    "haproxy": {"pooled": "http://127.0.0.1:8181/", "full": "http://127.0.0.1:8183/",
                "full_like": "http://127.0.0.1:8187/", "full_like_proc": "haproxy-extra",
                "tls_port": 8186, "tls_path": "/", "tls_proc": "haproxy-extra"},
    "gatehouse": {"pooled": GW + "/p/", "full": GW + "/f/",
                  "full_like": "http://127.0.0.1:8382/f/", "full_like_proc": "gatehouse-lfl",
                  "tls_port": 8383, "tls_path": "/p/", "tls_proc": "gatehouse"},
}
PIDFILE = {"nginx-soak": "nginx-soak.pid", "nginx": "nginx-proxy.pid", "haproxy": "haproxy.pid", "gatehouse": "gatehouse.pid",
           "nginx-extra": "nginx-extra.pid", "haproxy-extra": "haproxy-extra.pid",
           "gatehouse-lfl": "gatehouse-lfl.pid", "gatehouse-counting": "gatehouse-counting.pid"}
# The Gatehouse processes: binary, admin and gateway ports, extra flags.
GATEHOUSES = {
    "gatehouse": {"bin": BIN, "admin": 8301, "gw": 8381,
                  "args": ["--gateway-tls-listen", "127.0.0.1:8383"]},
    "gatehouse-lfl": {"bin": BIN, "admin": 8302, "gw": 8382, "args": ["--backend-chain-cache", "false"]},
    "gatehouse-counting": {"bin": COUNTING_BIN, "admin": 8304, "gw": 8384,
                           "args": ["--gateway-tls-listen", "127.0.0.1:8385"]},
}
# M8: three nodes on one PostgreSQL (started by M8 on PG_PORT), sharing one master key.
PG_PORT = 8399
CLUSTER_KEY = base64.b64encode(bytes(range(32))).decode()
for _n in (1, 2, 3):
    GATEHOUSES[f"node{_n}"] = {
        "bin": BIN, "admin": 8310 + _n, "gw": 8390 + _n,
        "args": ["--database-url", f"postgres://postgres@127.0.0.1:{PG_PORT}/gatehouse"],
        "env": {"GATEHOUSE_MASTER_KEY": CLUSTER_KEY}}
    PIDFILE[f"node{_n}"] = f"node{_n}.pid"
gh_procs = {}  # Gatehouse processes running, by GATEHOUSES key

results = {}
lines = []


def log(text=""):
    print(text, flush=True)
    lines.append(text)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True, **kw).stdout


def pids(name):
    path = os.path.join(WORK, PIDFILE.get(name, name))
    with open(path) as f:
        master = int(f.read().split()[0])
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [master] + [int(p) for p in out.split()]


def ticks(ps):
    total = 0
    for p in ps:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            pass
    return total


def rss_kb(ps):
    total = 0
    for p in ps:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def accepts():
    with urllib.request.urlopen("http://127.0.0.1:9080/status") as r:
        return int(r.read().decode().splitlines()[2].split()[0])


def to_us(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1, "ms": 1000, "s": 1_000_000}[unit]


def cpu_busy(cpu):
    """(busy, total) jiffies of one CPU from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return sum(v) - v[3] - v[4], sum(v)
    return 0, 0


def busy_pct(b0, b1):
    return 100.0 * (b1[0] - b0[0]) / max(b1[1] - b0[1], 1)


def children_cpu_s():
    """CPU seconds of the finished child processes (wrk, s_time), for the load generator's share."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wrk(url, conns, dur, proxy=None, headers=()):
    """One wrk run: throughput, latency percentiles, errors, proxy CPU, back-end accepts, and the
    load generator's CPU: wrk's own, and how busy its CPU was (near 100%: the client, not the
    proxy, may have set the pace)."""
    ps = pids(proxy) if proxy else []
    a0, c0, l0, k0, t0 = accepts(), ticks(ps), cpu_busy(LOADCPU), children_cpu_s(), time.time()
    extra = [x for h in headers for x in ("-H", h)]
    out = subprocess.run(
        ["taskset", "-c", LOADCPU, "wrk", "-t1", f"-c{conns}", f"-d{dur}s", "--latency", *extra, url],
        capture_output=True, text=True,
    ).stdout
    c1, a1, l1, k1, t1 = ticks(ps), accepts(), cpu_busy(LOADCPU), children_cpu_s(), time.time()
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1])
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    cpu_s = (c1 - c0) / HZ
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_us": to_us(pct["50"]),
        "p99_us": to_us(pct["99"]),
        "requests": requests,
        "errors": errors,
        "non2xx": non2xx,
        "cpu_us_per_req": 1e6 * cpu_s / requests if proxy else None,
        "new_backend_conns": a1 - a0 - 1,  # the accepts probe itself is one
        "loadgen_busy_pct": busy_pct(l0, l1),
        "client_cpu_pct": 100.0 * (k1 - k0) / (t1 - t0),
    }


def api(method, path, body=None, admin=ADMIN):
    req = urllib.request.Request(admin + path, method=method, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(req, data) as r:
        return json.loads(r.read() or b"null")


def start_nginx(conf):
    sh(f"taskset -c {SRVCPU} nginx -p {WORK}/ -c {WORK}/{conf}")


def start_haproxy(cfg, pidfile):
    sh(f"cd {WORK} && taskset -c {SRVCPU} haproxy -D -p {pidfile} -f {cfg}")


def start_gatehouse(name):
    """Starts one Gatehouse process (GATEHOUSES[name]) on its own data dir; returns when the
    admin listener answers. Its configuration, once made, is kept in the data dir."""
    g = GATEHOUSES[name]
    data = os.path.join(WORK, f"{name}-data")
    env = {**os.environ, "GATEHOUSE_ADMIN_TOKEN": TOKEN, "RUST_LOG": "warn", **g.get("env", {})}
    logf = open(os.path.join(WORK, f"{name}.log"), "a")
    proc = subprocess.Popen(
        ["taskset", "-c", SRVCPU, g["bin"], "serve", "--data-dir", data,
         "--admin-listen", f"127.0.0.1:{g['admin']}", "--gateway-listen", f"127.0.0.1:{g['gw']}",
         "--worker-threads", "1", *g["args"]],
        env=env, stdout=logf, stderr=logf)
    gh_procs[name] = proc
    with open(os.path.join(WORK, PIDFILE[name]), "w") as f:
        f.write(str(proc.pid))
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{g['admin']}/health")
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not start; see {name}.log")


def configure_gatehouse(name):
    admin = f"http://127.0.0.1:{GATEHOUSES[name]['admin']}"
    certs = os.path.join(WORK, "certs")
    read = lambda n: open(os.path.join(certs, n)).read()
    call = lambda method, path, body: api(method, path, body, admin=admin)
    call("PUT", "/caCertificates/bench-ca", {"properties": {"data": base64.b64encode(read("ca.pem").encode()).decode()}})
    call("PUT", "/certificates/client-a", {"properties": {"pem": read("client.pem") + read("client.key")}})
    call("PUT", "/certificates/client-b", {"properties": {"pem": read("client-b.pem") + read("client-b.key")}})
    # The server certificate names IP:127.0.0.1 and backend.local; the URL's host is checked.
    call("PUT", "/backends/pooled", {"properties": {"url": "https://127.0.0.1:9443/p",
                                                    "tls": {"caCertificateIds": ["bench-ca"]}}})
    call("PUT", "/backends/full", {"properties": {"url": "https://127.0.0.1:9443/f",
                                                  "tls": {"caCertificateIds": ["bench-ca"], "sessionResumption": False},
                                                  "pool": {"maxIdleConnections": 0}}})
    for api_name in ("p", "f"):
        call("PUT", f"/apis/{api_name}", {"properties": {"path": api_name, "serviceUrl": f"https://127.0.0.1:9443/{api_name}"}})
        call("PUT", f"/apis/{api_name}/operations/all", {"properties": {"method": "*", "urlTemplate": "/*"}})
        call("PUT", f"/apis/{api_name}/gatewayCredentials",
             {"properties": {"type": "clientCertificate", "certificateId": "client-a"}})
    if "--gateway-tls-listen" in GATEHOUSES[name]["args"]:
        # TLS for callers (M7): the same certificate and key as nginx and HAProxy serve.
        call("PUT", "/certificates/gw-tls", {"properties": {"pem": read("gateway.pem") + read("gateway.key")}})
        call("PUT", "/hostnameConfigurations/gw", {"properties": {
            "hostName": "gateway.local", "certificateId": "gw-tls", "defaultSslBinding": True}})


def wait_ready(url, timeout=20):
    """Until one request through the proxy answers 200 (the back-end path works)."""
    ctx = ssl._create_unverified_context()
    end = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.time() > end:
            raise RuntimeError(f"{url} not ready")
        time.sleep(0.1)


def stop_pid(pid, sig, timeout=15):
    """Signals one process and waits until it and its children are gone (SIGKILL after timeout)."""
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    group = [pid] + [int(p) for p in children.split()]
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    end = time.time() + timeout
    while any(os.path.exists(f"/proc/{p}") and not _zombie(p) for p in group):
        if time.time() > end:
            for p in group:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            break
        time.sleep(0.05)


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def stop_gatehouse(name):
    proc = gh_procs.pop(name, None)
    if proc is None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_all():
    certs = os.path.join(WORK, "certs")
    if not all(os.path.exists(os.path.join(certs, f)) for f in ("ca.pem", "gateway-combined.pem")):
        subprocess.run(["bash", os.path.join(HERE, "gen-certs.sh")], env={**os.environ, "DIR": WORK},
                       check=True, capture_output=True)
    os.makedirs(os.path.join(WORK, "tmp"), exist_ok=True)
    for f in ("backend-nginx.conf", "proxy-nginx.conf", "proxy-haproxy.cfg", "proxy-nginx-extra.conf",
              "proxy-haproxy-extra.cfg"):
        shutil.copy(os.path.join(HERE, f), WORK)
    start_nginx("backend-nginx.conf")
    start_nginx("proxy-nginx.conf")
    start_nginx("proxy-nginx-extra.conf")
    start_haproxy("proxy-haproxy.cfg", "haproxy.pid")
    start_haproxy("proxy-haproxy-extra.cfg", "haproxy-extra.pid")
    start_gatehouse("gatehouse")
    configure_gatehouse("gatehouse")
    time.sleep(0.5)


def stop_all():
    for name in list(gh_procs):
        stop_gatehouse(name)
    for name, sig in (("nginx-proxy.pid", signal.SIGQUIT), ("nginx-extra.pid", signal.SIGQUIT),
                      ("nginx-backend.pid", signal.SIGQUIT), ("haproxy.pid", signal.SIGUSR1),
                      ("haproxy-extra.pid", signal.SIGUSR1)):
        try:
            stop_pid(pids(name)[0], sig)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass


def restart_proxy(name):
    """M4: a fresh process, then one request through it so its back-end path is set up."""
    if name == "nginx":
        stop_pid(pids("nginx")[0], signal.SIGQUIT)
        start_nginx("proxy-nginx.conf")
    elif name == "haproxy":
        stop_pid(pids("haproxy")[0], signal.SIGUSR1)
        start_haproxy("proxy-haproxy.cfg", "haproxy.pid")
    else:
        stop_gatehouse("gatehouse")
        start_gatehouse("gatehouse")
    wait_ready(PROXIES[name]["pooled"])


def order(round_no):
    names = list(PROXIES)
    return names[round_no % 3:] + names[:round_no % 3]


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def round_ratios(runs, keys):
    """Median over rounds of Gatehouse's figure divided by each reference's in the same round:
    the runs of one round are seconds apart, so slow drifts of the host cancel out."""
    out = {}
    for ref in ("nginx", "haproxy"):
        for key in keys:
            ratios = [g[key] / r[key] for g, r in zip(runs["gatehouse"], runs[ref]) if r[key]]
            out[f"{key}_vs_{ref}"] = statistics.median(ratios) if ratios else None
    return out

# ---- TLS handshakes as seen on the wire ---------------------------------------------------------

SUITE_NAMES = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
               0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256",
               0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384", 0xCCA9: "ECDHE-ECDSA-CHACHA20-POLY1305"}
GROUP_NAMES = {0x001D: "X25519", 0x0017: "P-256", 0x0018: "P-384", 0x11EC: "X25519MLKEM768"}
VERSION_NAMES = {0x0304: "TLSv1.3", 0x0303: "TLSv1.2"}
HELLO_RETRY = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")


class Wire:
    """Reads the handshakes to one or more loopback TCP server ports from a packet socket (needs
    root): ClientHellos, how many offered to resume (TLS 1.3 pre_shared_key, or a TLS 1.2 session
    ticket), which suite each client offered first; ServerHellos, how many resumed (TLS 1.3:
    pre_shared_key accepted; TLS 1.2: the client's session id echoed), and the version, suite and
    key-exchange group each chose. Used for short checks next to a measurement, never during one.
    """

    def __init__(self, ports):
        self.ports = set(ports)
        self.count = collections.Counter()
        self.suites, self.groups, self.versions, self.offered_first = (collections.Counter() for _ in range(4))
        self.sids = {}
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        os.sched_setaffinity(0, {int(LOADCPU)})  # this thread only
        while not self.stopping:
            try:
                b, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            # Loopback shows each packet twice, outgoing (4) and incoming: count one of them.
            if addr[2] == 4 or b[12:14] != b"\x08\x00" or b[23] != 6:
                continue
            tcp = 14 + (b[14] & 15) * 4
            sport, dport = struct.unpack_from("!HH", b, tcp)
            p = tcp + (b[tcp + 12] >> 4) * 4
            if len(b) < p + 9 or b[p] != 0x16:
                continue
            try:
                if dport in self.ports and b[p + 5] == 1:
                    self._client_hello(b, p + 9, sport)
                elif sport in self.ports and b[p + 5] == 2:
                    self._server_hello(b, p + 9, dport)
            except (struct.error, IndexError):
                self.count["unparsed"] += 1

    @staticmethod
    def _extensions(b, i):
        n = struct.unpack_from("!H", b, i)[0]
        i, end, out = i + 2, i + 2 + n, {}
        while i + 4 <= end:
            t, l = struct.unpack_from("!HH", b, i)
            out[t] = b[i + 4:i + 4 + l]
            i += 4 + l
        return out

    def _client_hello(self, b, i, client_port):
        i += 2 + 32
        sid = b[i + 1:i + 1 + b[i]]
        i += 1 + b[i]
        n = struct.unpack_from("!H", b, i)[0]
        self.offered_first[struct.unpack_from("!H", b, i + 2)[0]] += 1
        i += 2 + n
        i += 1 + b[i]
        ext = self._extensions(b, i)
        self.count["client_hellos"] += 1
        if 41 in ext or ext.get(35):
            self.count["offered_resumption"] += 1
        self.sids[client_port] = sid

    def _server_hello(self, b, i, client_port):
        legacy_version = struct.unpack_from("!H", b, i)[0]
        if b[i + 2:i + 34] == HELLO_RETRY:
            self.count["hello_retries"] += 1  # the client must send a second ClientHello
            return
        i += 2 + 32
        sid = b[i + 1:i + 1 + b[i]]
        i += 1 + b[i]
        suite = struct.unpack_from("!H", b, i)[0]
        ext = self._extensions(b, i + 3)
        version = struct.unpack_from("!H", ext[43])[0] if 43 in ext else legacy_version
        self.count["server_hellos"] += 1
        self.suites[suite] += 1
        self.versions[version] += 1
        if 51 in ext:
            self.groups[struct.unpack_from("!H", ext[51])[0]] += 1
        if (version == 0x0304 and 41 in ext) or (version == 0x0303 and sid and sid == self.sids.get(client_port)):
            self.count["resumed"] += 1

    def close(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()
        return self

    def summary(self):
        name = lambda table, c: ", ".join(f"{table.get(k, hex(k))} x{v}" for k, v in c.most_common())
        return {"client_hellos": self.count["client_hellos"], "server_hellos": self.count["server_hellos"],
                "hello_retries": self.count["hello_retries"], "unparsed": self.count["unparsed"],
                "offered_resumption": self.count["offered_resumption"], "resumed": self.count["resumed"],
                "versions": name(VERSION_NAMES, self.versions), "suites": name(SUITE_NAMES, self.suites),
                "groups": name(GROUP_NAMES, self.groups),
                "offered_first": name(SUITE_NAMES, self.offered_first)}

    def short(self):
        w = self.summary()
        return (f"{w['versions']}; {w['suites']}; {w['groups']}; resumed {w['resumed']} of {w['server_hellos']} "
                f"(resumption offered in {w['offered_resumption']} of {w['client_hellos']} ClientHellos; "
                f"suite offered first: {w['offered_first']}; HelloRetryRequests {w['hello_retries']})")


def wire_check(ports, run):
    """Runs `run()` while watching the handshakes to `ports`; None where packet sockets are not
    allowed (not root)."""
    try:
        w = Wire(ports)
    except PermissionError:
        run()
        return None
    time.sleep(0.2)
    try:
        run()
        time.sleep(0.3)
    finally:
        w.close()
    return w



def m1():
    log(f"## M1 pooled upstream mTLS: wrk -t1 -c{CONNS} -d{DUR}s, median of {ROUNDS} interleaved rounds")
    runs = {n: [] for n in PROXIES}
    for r in range(ROUNDS):
        for name in order(r):
            url = PROXIES[name]["pooled"]
            subprocess.run(["taskset", "-c", LOADCPU, "wrk", "-t1", f"-c{CONNS}", "-d2s", url], capture_output=True)
            res = wrk(url, CONNS, DUR, name)
            runs[name].append(res)
            log(f"  round {r + 1} {name:9} rps={res['rps']:.0f} p50={res['p50_us']:.0f}us p99={res['p99_us']:.0f}us "
                f"errors={res['errors']} non2xx={res['non2xx']} cpu/req={res['cpu_us_per_req']:.1f}us "
                f"new backend conns={res['new_backend_conns']}")
    results["m1"] = {n: {k: median(v, k) for k in ("rps", "p50_us", "p99_us", "cpu_us_per_req")} |
                     {"reuse": statistics.median(1 - max(x["new_backend_conns"], 0) / x["requests"] for x in v),
                      "errors": sum(x["errors"] + x["non2xx"] for x in v)}
                     for n, v in runs.items()}
    results["m1_round_ratios"] = round_ratios(runs, ("rps", "cpu_us_per_req", "p99_us"))


def m2():
    log(f"## M2 added latency at one connection (wrk -c1 -d{DUR}s), against the back end reached directly")
    runs = {n: [] for n in ["direct"] + list(PROXIES)}
    for r in range(ROUNDS):
        for name in ["direct"] + order(r):
            url = "http://127.0.0.1:9080/" if name == "direct" else PROXIES[name]["pooled"]
            res = wrk(url, 1, DUR, None if name == "direct" else name)
            runs[name].append(res)
            log(f"  round {r + 1} {name:9} p50={res['p50_us']:.0f}us p99={res['p99_us']:.0f}us")
    direct = {k: median(runs["direct"], k) for k in ("p50_us", "p99_us")}
    # Also round by round: each proxy against the back end measured seconds before it, which
    # takes the host's drift between rounds out (the medians of all rounds do not).
    results["m2"] = {n: {"added_p50_us": median(v, "p50_us") - direct["p50_us"],
                         "added_p99_us": median(v, "p99_us") - direct["p99_us"],
                         "round_added_p50_us": statistics.median(
                             p["p50_us"] - d["p50_us"] for p, d in zip(v, runs["direct"])),
                         "round_added_p99_us": statistics.median(
                             p["p99_us"] - d["p99_us"] for p, d in zip(v, runs["direct"]))}
                     for n, v in runs.items() if n != "direct"}
    results["m2"]["direct"] = direct


def m3():
    log(f"## M3 a new full mutual-TLS handshake for every request (no pool, no resumption), wrk -c{CONNS} -d{DUR}s")
    log("   like for like: nginx :8087 and HAProxy :8187 offer TLS_AES_128_GCM_SHA256 first to the back end, as")
    log("   Gatehouse does; Gatehouse (second process, :8382) runs with --backend-chain-cache false.")
    log("   defaults: nginx :8083, HAProxy :8183 (OpenSSL's suite order), Gatehouse :8381 (chain cache on).")
    variants = (("like", "full_like"), ("default", "full"))
    start_gatehouse("gatehouse-lfl")
    try:
        configure_gatehouse("gatehouse-lfl")
        for name in PROXIES:
            wait_ready(PROXIES[name]["full_like"])
        # The back end's side of each variant's handshakes, once per proxy, from the wire.
        wire = {}
        for variant, key in variants:
            for name in PROXIES:
                w = wire_check([9443], lambda: subprocess.run(
                    ["taskset", "-c", LOADCPU, "wrk", "-t1", "-c4", "-d1s", PROXIES[name][key]], capture_output=True))
                wire[f"{variant}/{name}"] = w.summary() if w else None
                log(f"  wire check {variant:7} {name:9} back-end handshakes: {w.short() if w else 'not available (needs root)'}")
        runs = {v: {n: [] for n in PROXIES} for v, _ in variants}
        for r in range(ROUNDS):
            for variant, key in variants:
                for name in order(r):
                    proc = PROXIES[name]["full_like_proc"] if variant == "like" else name
                    res = wrk(PROXIES[name][key], CONNS, DUR, proc)
                    runs[variant][name].append(res)
                    log(f"  round {r + 1} {variant:7} {name:9} rps={res['rps']:.0f} cpu/handshake={res['cpu_us_per_req']:.0f}us "
                        f"new backend conns={res['new_backend_conns']} requests={res['requests']} errors={res['errors']} "
                        f"non2xx={res['non2xx']}")
    finally:
        stop_gatehouse("gatehouse-lfl")
    for variant, _ in variants:
        suffix = "" if variant == "default" else "_like"
        results["m3" + suffix] = {n: {"rps": median(v, "rps"), "cpu_us_per_handshake": median(v, "cpu_us_per_req"),
                                      "errors": sum(x["errors"] + x["non2xx"] for x in v),
                                      "wire": wire.get(f"{variant}/{n}")}
                                  for n, v in runs[variant].items()}
        results["m3" + suffix + "_round_ratios"] = round_ratios(runs[variant], ("rps", "cpu_us_per_req"))


async def _idle(port, path, n, hold, ready):
    sem, keep = asyncio.Semaphore(64), []

    async def one():
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            await w.drain()
            hdr = await r.readuntil(b"\r\n\r\n")
            cl = [int(l.split(b":")[1]) for l in hdr.split(b"\r\n") if l.lower().startswith(b"content-length")]
            await r.readexactly(cl[0] if cl else 0)
            keep.append(w)

    res = await asyncio.gather(*[one() for _ in range(n)], return_exceptions=True)
    bad = sum(1 for x in res if isinstance(x, Exception))
    ready.append((len(keep), bad))
    await asyncio.sleep(hold)
    for w in keep:
        w.close()


def m4():
    # Each measurement on a fresh process: a second one on the same process measures memory it
    # kept from the first (nginx and HAProxy then show ~0), not what 10k idle clients cost.
    log(f"## M4 memory per 10,000 idle keep-alive client connections ({IDLE_N} opened per proxy, scaled), "
        f"median of {ROUNDS} interleaved rounds, each proxy restarted before each of its measurements")
    runs = {n: [] for n in PROXIES}
    for r in range(ROUNDS):
        for name in order(r):
            restart_proxy(name)
            time.sleep(0.5)
            url = PROXIES[name]["pooled"]
            port, path = int(url.split(":")[2].split("/")[0]), "/" + url.split("/", 3)[3]
            ps = pids(name)
            r0, ready = rss_kb(ps), []
            t = threading.Thread(target=lambda: asyncio.run(_idle(port, path, IDLE_N, 6, ready)))
            os.sched_setaffinity(0, {int(LOADCPU)})
            t.start()
            while not ready:
                time.sleep(0.1)
            time.sleep(1)
            r1 = rss_kb(ps)
            t.join()
            os.sched_setaffinity(0, set(range(os.cpu_count())))
            opened, failed = ready[0]
            mib = (r1 - r0) * 10000 / IDLE_N / 1024
            runs[name].append({"mib": mib, "opened": opened, "failed": failed})
            log(f"  round {r + 1} {name:9} pid={ps[0]} opened={opened} failed={failed} RSS {r0} -> {r1} kB "
                f"= {mib:.1f} MiB per 10k")
            time.sleep(2)
    results["m4"] = {n: {"mib_per_10k": median(v, "mib"), "failed": sum(x["failed"] for x in v)}
                     for n, v in runs.items()}
    results["m4_round_ratios"] = round_ratios(runs, ("mib",))


def probe(port, path, want, dur, out):
    """Fresh connection every ~5 ms: first response with the new certificate, last with the old."""
    os.sched_setaffinity(0, {int(LOADCPU)})  # this thread only, beside wrk
    end = time.time() + dur
    first_new = last_old = 0.0
    new = old = failed = 0
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            d = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                d += b
            s.close()
            t = time.time()
            if want in d:
                new += 1
                first_new = first_new or t
            elif b"x-client-cn" in d.lower():
                old += 1
                last_old = t
            else:
                failed += 1
        except OSError:
            failed += 1
        time.sleep(0.005)
    out.update(first_new=first_new, last_old=last_old, new=new, old=old, failed=failed)


def rotate(name, url, trigger, restore):
    port, path = int(url.split(":")[2].split("/")[0]), "/" + url.split("/", 3)[3]
    load = subprocess.Popen(["taskset", "-c", LOADCPU, "wrk", "-t1", f"-c{CONNS}", f"-d{M5_DUR}s", "--latency", url],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    seen = {}
    t = threading.Thread(target=probe, args=(port, path, b"gateway-b", M5_DUR - 3, seen))
    t.start()
    time.sleep(1)
    t0 = time.time()
    trigger()
    t.join()
    out = load.communicate()[0]
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1])
    restore()
    time.sleep(2)
    first = (seen["first_new"] - t0) * 1000 if seen["first_new"] else None
    last = (seen["last_old"] - t0) * 1000 if seen["last_old"] else None
    return {"wrk_errors": errors, "wrk_non2xx": non2xx, "probe_failed": seen["failed"],
            "first_new_ms": first, "last_old_ms": last, "probe_new": seen["new"], "probe_old": seen["old"]}


def haproxy_cli(payload):
    s = socket.create_connection(("127.0.0.1", 8199))
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    return s.makefile().read().strip()


def m5():
    log(f"## M5 client certificate A -> B under load (wrk -c{CONNS} {M5_DUR}s, change at t=3s, probe every ~5 ms)")
    certs = os.path.join(WORK, "certs")
    read = lambda n: open(os.path.join(certs, n), "rb").read()

    def nginx_swap(to):
        shutil.copy(os.path.join(certs, f"{to}.pem"), os.path.join(certs, "client.pem"))
        shutil.copy(os.path.join(certs, f"{to}.key"), os.path.join(certs, "client.key"))
        os.kill(pids("nginx-proxy.pid")[0], signal.SIGHUP)

    def haproxy_swap(to):
        combined = read("client-b-combined.pem" if to == "client-b" else "client-a-combined.pem")
        haproxy_cli(b"set ssl cert certs/client-combined.pem <<\n" + combined + b"\n")
        haproxy_cli(b"commit ssl cert certs/client-combined.pem\n")

    def gatehouse_swap(to):
        api("PUT", "/apis/p/gatewayCredentials",
            {"properties": {"type": "clientCertificate", "certificateId": to}})

    shutil.copy(os.path.join(certs, "client.pem"), os.path.join(certs, "client-a.pem"))
    shutil.copy(os.path.join(certs, "client.key"), os.path.join(certs, "client-a.key"))
    shutil.copy(os.path.join(certs, "client-combined.pem"), os.path.join(certs, "client-a-combined.pem"))
    swaps = {"nginx": (nginx_swap, "reload (SIGHUP)"), "haproxy": (haproxy_swap, "runtime API"),
             "gatehouse": (gatehouse_swap, "management PUT")}
    runs = {n: [] for n in PROXIES}
    for r in range(ROUNDS):
        for name in order(r):
            swap, how = swaps[name]
            res = rotate(name, PROXIES[name]["pooled"], lambda: swap("client-b"), lambda: swap("client-a"))
            runs[name].append(res)
            log(f"  round {r + 1} {name:9} ({how}) wrk socket errors={res['wrk_errors']} wrk non-2xx={res['wrk_non2xx']} "
                f"probe failed={res['probe_failed']} (probe saw new {res['probe_new']}, old {res['probe_old']}); "
                f"first new cert after {res['first_new_ms']} ms, last old cert {res['last_old_ms']} ms after")
    results["m5"] = {n: {"wrk_errors": sum(x["wrk_errors"] for x in v),
                         "wrk_non2xx": sum(x["wrk_non2xx"] for x in v),
                         "probe_failed": sum(x["probe_failed"] for x in v),
                         "first_new_ms": statistics.median([x["first_new_ms"] if x["first_new_ms"] is not None else 1e9 for x in v]),
                         "last_old_ms": statistics.median([x["last_old_ms"] if x["last_old_ms"] is not None else 0 for x in v])}
                     for n, v in runs.items()}


def m6():
    log("## M6 from a management PUT to its effect on the next request (Gatehouse)")
    samples, wrong = [], 0
    for i in range(40):
        to = "client-b" if i % 2 == 0 else "client-a"
        want = b"gateway-b" if to == "client-b" else b"gateway-a"
        t0 = time.perf_counter()
        api("PUT", "/apis/p/gatewayCredentials", {"properties": {"type": "clientCertificate", "certificateId": to}})
        with urllib.request.urlopen(GW + "/p/") as r:
            cn = r.headers.get("X-Client-CN", "").encode()
        samples.append((time.perf_counter() - t0) * 1000)
        wrong += want not in cn
    api("PUT", "/apis/p/gatewayCredentials", {"properties": {"type": "clientCertificate", "certificateId": "client-a"}})
    results["m6"] = {"median_ms": statistics.median(samples), "max_ms": max(samples), "stale_responses": wrong}
    log(f"  PUT then next request: median {statistics.median(samples):.1f} ms, max {max(samples):.1f} ms, "
        f"responses with the old certificate: {wrong} of {len(samples)}")


def start_postgres():
    """A throwaway PostgreSQL for M8 (Debian's initdb and pg_ctl; as nobody when root). Returns
    the pg_ctl command prefix, for stopping it."""
    binary = shutil.which("initdb")
    bindir = os.path.dirname(os.path.realpath(binary)) if binary else sorted(
        d for d in (f"/usr/lib/postgresql/{v}/bin" for v in os.listdir("/usr/lib/postgresql"))
        if os.path.exists(d + "/initdb"))[-1]
    # Not under WORK: nobody must be able to reach it (WORK is private to its owner).
    pg = tempfile.mkdtemp(prefix="gatehouse-bench-pg.")
    as_user = {}
    if os.geteuid() == 0:
        os.chown(pg, 65534, 65534)
        as_user = {"user": 65534, "group": 65534}
    def run(*args):
        done = subprocess.run(list(args), capture_output=True, text=True, cwd=pg, **as_user)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}")
    run(f"{bindir}/initdb", "-D", f"{pg}/data", "-U", "postgres", "--auth=trust", "--no-sync")
    ctl = [f"{bindir}/pg_ctl", "-D", f"{pg}/data", "-l", f"{pg}/log"]
    run(*ctl, "-o", f"-p {PG_PORT} -k {pg} -c listen_addresses=127.0.0.1", "-w", "start")
    run(f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "gatehouse")
    def stop():
        run(*ctl, "-m", "fast", "stop")
        shutil.rmtree(pg, ignore_errors=True)
    return stop


def m8():
    """Three Gatehouse nodes on one PostgreSQL: 200 certificate changes spread over their
    management APIs; for each, how long until each node's gateway presents the new certificate
    (the back end's X-Client-CN), and until each node's /health reports the new revision."""
    log("## M8 propagation across three nodes on one PostgreSQL (200 changes, round-robin writers)")
    stop_pg = start_postgres()
    nodes = ["node1", "node2", "node3"]
    try:
        for n in nodes:
            start_gatehouse(n)
        configure_gatehouse("node1")
        gw = lambda n: f"http://127.0.0.1:{GATEHOUSES[n]['gw']}/p/"
        admin = lambda n: f"http://127.0.0.1:{GATEHOUSES[n]['admin']}"
        for n in nodes:
            wait_ready(gw(n))

        def until(node, check, t0):
            while True:
                if check(node):
                    return (time.perf_counter() - t0) * 1000
                if time.perf_counter() - t0 > 10:
                    raise RuntimeError(f"M8: a change did not reach {node} in 10 s")
                time.sleep(0.0005)

        def presents(want):
            def check(node):
                with urllib.request.urlopen(gw(node)) as r:
                    return want in r.headers.get("X-Client-CN", "")
            return check

        def serves(revision):
            def check(node):
                with urllib.request.urlopen(admin(node) + "/health") as r:
                    return json.loads(r.read())["revision"] >= revision
            return check

        own, others, health = [], [], []
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(3) as pool:
            for i in range(200):
                writer = nodes[i % 3]
                to, want = ("client-b", "gateway-b") if i % 2 == 0 else ("client-a", "gateway-a")
                t0 = time.perf_counter()
                api("PUT", "/apis/p/gatewayCredentials",
                    {"properties": {"type": "clientCertificate", "certificateId": to}}, admin=admin(writer))
                with urllib.request.urlopen(admin(writer) + "/health") as r:
                    revision = json.loads(r.read())["revision"]
                t1 = time.perf_counter()
                seen = list(pool.map(lambda n: until(n, presents(want), t0), nodes))
                for n, ms in zip(nodes, seen):
                    (own if n == writer else others).append(ms)
                readers = [n for n in nodes if n != writer]
                health += list(pool.map(lambda n: until(n, serves(revision), t1), readers))
        q = lambda xs, p: sorted(xs)[min(len(xs) - 1, round((len(xs) - 1) * p))]
        results["m8"] = {
            "own": {"p50": q(own, .5), "p99": q(own, .99), "max": max(own)},
            "others": {"p50": q(others, .5), "p99": q(others, .99), "max": max(others)},
            "health": {"p50": q(health, .5), "p99": q(health, .99), "max": max(health)},
        }
        for key, label in (("own", "the writer's own gateway presents it"),
                           ("others", "the two other nodes' gateways present it"),
                           ("health", "the two other nodes report the revision (/health, from the writer's)")):
            r = results["m8"][key]
            log(f"  {label}: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms")
    finally:
        for n in nodes:
            stop_gatehouse(n)
        stop_pg()


SOAK_CHANGES = int(os.environ.get("SOAK_CHANGES", "900"))
# A change starts at least this long after the one before it started (0: back to back).
SOAK_INTERVAL_MS = int(os.environ.get("SOAK_INTERVAL_MS", "150"))


def soak():
    """Rotation soak: SOAK_CHANGES new versions of one certificate, one after another, under
    wrk -c50 through Gatehouse to a back end that logs each request's client certificate."""
    log(f"## Rotation soak: {SOAK_CHANGES} certificate versions, one every {SOAK_INTERVAL_MS} ms at most, "
        f"under wrk -t1 -c{CONNS} load")
    subprocess.run(["bash", os.path.join(HERE, "gen-rotation-certs.sh"), str(SOAK_CHANGES)],
                   env={**os.environ, "DIR": WORK}, check=True, capture_output=True)
    shutil.copy(os.path.join(HERE, "backend-soak-nginx.conf"), WORK)
    logfile = os.path.join(WORK, "soak-access.log")
    if os.path.exists(logfile):
        os.remove(logfile)
    start_nginx("backend-soak-nginx.conf")
    certs = os.path.join(WORK, "certs")
    pem = lambda i: open(os.path.join(certs, "rot", f"{i:04d}.pem")).read()
    try:
        api("PUT", "/backends/soak", {"properties": {"url": "https://127.0.0.1:9445/s",
                                                     "tls": {"caCertificateIds": ["bench-ca"]}}})
        api("PUT", "/certificates/rot", {"properties": {"pem": pem(0)}})
        api("PUT", "/apis/s", {"properties": {"path": "s", "serviceUrl": "https://127.0.0.1:9445/s"}})
        api("PUT", "/apis/s/operations/all", {"properties": {"method": "*", "urlTemplate": "/*"}})
        api("PUT", "/apis/s/gatewayCredentials",
            {"properties": {"type": "clientCertificate", "certificateId": "rot"}})
        url = GW + "/s/"
        wait_ready(url)
        # Long enough for every change; wrk is stopped when they are done.
        wrk_proc = subprocess.Popen(
            ["taskset", "-c", LOADCPU, "wrk", "-t1", f"-c{CONNS}", "-d600s", "--latency", url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(2)
        active_at, lags = [time.time()], []
        for i in range(1, SOAK_CHANGES):
            body = {"properties": {"pem": pem(i)}}
            if lags:
                wait = SOAK_INTERVAL_MS / 1000 - (time.perf_counter() - t0)
                if wait > 0:
                    time.sleep(wait)
            t0 = time.perf_counter()
            api("PUT", "/certificates/rot", body)
            t1 = time.perf_counter()
            active_at.append(time.time())
            want = f"rot-{i:04d}"
            while True:
                with urllib.request.urlopen(url) as r:
                    if want in r.headers.get("X-Client-CN", ""):
                        break
                if time.perf_counter() - t1 > 5:
                    raise RuntimeError(f"soak: version {i} not presented within 5 s")
            lags.append(((time.perf_counter() - t1) * 1000, (t1 - t0) * 1000))
        time.sleep(2)  # requests after the last change, so it is checked too
        wrk_proc.send_signal(signal.SIGINT)
        out = wrk_proc.communicate(timeout=30)[0]
    finally:
        try:
            stop_pid(pids("nginx-soak")[0], signal.SIGQUIT)
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            pass
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1)) if re.search(r"(\d+) requests in", out) else 0
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = int(re.search(r"Non-2xx or 3xx responses: (\d+)", out).group(1)) if "Non-2xx" in out else 0
    # Which version each request arrived with, against when the next version became active.
    late, worst, logged, by_version = 0, 0.0, 0, collections.Counter()
    with open(logfile) as f:
        for line in f:
            parts = line.split()
            cn = re.search(r"CN=rot-(\d+)", line)
            if len(parts) < 2 or not cn:
                continue
            logged += 1
            t, version = float(parts[0]), int(cn.group(1))
            by_version[version] += 1
            if version + 1 < len(active_at) and t > active_at[version + 1]:
                after = t - active_at[version + 1]
                worst = max(worst, after)
                late += after > 1.0
    presented = sorted(l for l, _ in lags)
    puts = sorted(p for _, p in lags)
    q = lambda xs, p: xs[min(len(xs) - 1, round((len(xs) - 1) * p))]
    results["soak"] = {
        "changes": SOAK_CHANGES - 1, "requests": requests, "rps": float(m.group(1)) if m else 0.0,
        "wrk_errors": errors, "non2xx": non2xx, "logged": logged,
        "presented_ms": {"p50": q(presented, .5), "p99": q(presented, .99), "max": presented[-1]},
        "put_ms": {"p50": q(puts, .5), "p99": q(puts, .99), "max": puts[-1]},
        "over_100ms": sum(1 for x in presented if x > 100),
        "old_version_requests_after_1s": late, "oldest_after_change_ms": worst * 1000,
        "versions_seen": len(by_version),
    }
    r = results["soak"]
    log(f"  {r['changes']} changes under load: {r['requests']} requests ({r['rps']:.0f}/s), wrk socket errors "
        f"{errors}, non-2xx {non2xx}")
    log(f"  change to the new certificate at the back end (from the PUT's answer): p50 {r['presented_ms']['p50']:.1f} ms, "
        f"p99 {r['presented_ms']['p99']:.1f} ms, max {r['presented_ms']['max']:.1f} ms; over 100 ms: {r['over_100ms']}")
    log(f"  the PUT itself (a new version: parse, seal, commit, publish): p50 {r['put_ms']['p50']:.1f} ms, "
        f"p99 {r['put_ms']['p99']:.1f} ms")
    log(f"  requests logged by the back end: {logged}; with a version older than current, arriving more than 1 s "
        f"after its successor became active: {late} (latest such request {r['oldest_after_change_ms']:.0f} ms after)")


def s_client_probe(port):
    """One `openssl s_client` handshake: what the proxy negotiates with an OpenSSL client."""
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "gateway.local",
                          "-CAfile", os.path.join(WORK, "certs", "ca.pem"), "-verify_hostname", "gateway.local",
                          "-verify_return_error", "-brief"],
                         input="", capture_output=True, text=True, timeout=10)
    text = out.stdout + out.stderr
    get = lambda key: (re.search(rf"^{key}:\s*(.+)$", text, re.M) or [None, "?"])[1].strip()
    return {"protocol": get("Protocol version"), "cipher": get("Ciphersuite"), "temp_key": get("Server Temp Key"),
            "verification": get("Verification")}


def http10_over_tls(port, path):
    """The request `openssl s_time -www` sends, once: status and length of the whole answer."""
    ctx = ssl._create_unverified_context()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ssl.SSLEOFError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]), len(data)


def s_time(port, path, proc, dur, clients):
    """New TLS connections with a full handshake each: `clients` concurrent `openssl s_time -new`
    processes (each: connect, full handshake, `GET path HTTP/1.0`, read to the end, close; no
    session is ever offered for resumption). Connections per second over the wall time of the
    whole run, proxy CPU per connection; every answer's length is checked against one 200's."""
    status, length = http10_over_tls(port, path)
    ps = pids(proc)
    a0, c0, l0, k0 = accepts(), ticks(ps), cpu_busy(LOADCPU), children_cpu_s()
    t0 = time.time()
    procs = [subprocess.Popen(["taskset", "-c", LOADCPU, "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
                               "-new", "-time", str(dur), "-www", path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(clients)]
    outs = [(p.communicate()[0], p.returncode) for p in procs]
    t1 = time.time()
    c1, a1, l1, k1 = ticks(ps), accepts(), cpu_busy(LOADCPU), children_cpu_s()
    conns = read = failed_clients = 0
    for out, rc in outs:
        m = re.search(r"(\d+) connections in [\d.]+s; [\d.]+ connections/user sec, bytes read (\d+)", out)
        if m:
            conns, read = conns + int(m.group(1)), read + int(m.group(2))
        if rc != 0 or not m:
            failed_clients += 1  # s_time stops at its first failed connection and reports nothing
    return {"rps": conns / (t1 - t0), "requests": conns, "cpu_us_per_req": 1e6 * (c1 - c0) / HZ / max(conns, 1),
            "failed_clients": failed_clients, "probe_status": status,
            "answers_as_expected": status == 200 and read == conns * length,
            "bytes_per_conn": read / max(conns, 1), "expected_bytes": length,
            "new_backend_conns": a1 - a0 - 1, "loadgen_busy_pct": busy_pct(l0, l1),
            "client_cpu_pct": 100.0 * (k1 - k0) / (t1 - t0)}


def load_cpu(res):
    return f"client CPU {res['client_cpu_pct']:.0f}% (cpu{LOADCPU} busy {res['loadgen_busy_pct']:.0f}%)"


def m7():
    log(f"## M7 TLS in + pooled mutual TLS out: median of {ROUNDS} interleaved rounds, {DUR}s runs")
    log("   nginx :8086 and HAProxy :8186 (second processes), Gatehouse :8383 (--gateway-tls-listen); the same")
    log("   ECDSA P-256 gateway.local certificate, TLS 1.3 and 1.2, server's suite order with")
    log(f"   {SUITES.split(':')[0]} first, session tickets on.")
    log(f"   (a) keep-alive: wrk -t1 -c{CONNS} https://...")
    log(f"   (b) full handshakes: {HANDSHAKE_CLIENTS} x openssl s_time -new (one request per connection, no resumption)")
    log(f"   (c) resumed handshakes: wrk -t1 -c{CONNS} -H 'Connection: close' (wrk resumes its TLS session on reconnect)")
    tls_url = lambda name: f"https://127.0.0.1:{PROXIES[name]['tls_port']}{PROXIES[name]['tls_path']}"
    out = {n: {} for n in PROXIES}
    for name in PROXIES:
        c = PROXIES[name]
        wait_ready(tls_url(name))
        pr = s_client_probe(c["tls_port"])
        out[name]["probe"] = pr
        log(f"  s_client  {name:9} {pr['protocol']} {pr['cipher']}, key exchange {pr['temp_key']}, "
            f"verification {pr['verification']}")
        w = wire_check([c["tls_port"]], lambda: subprocess.run(
            ["taskset", "-c", LOADCPU, "openssl", "s_time", "-connect", f"127.0.0.1:{c['tls_port']}", "-new",
             "-time", "1", "-www", c["tls_path"]], capture_output=True))
        out[name]["wire_full"] = w.summary() if w else None
        log(f"  wire check (b) {name:9} {w.short() if w else 'not available (needs root)'}")
        w = wire_check([c["tls_port"]], lambda: subprocess.run(
            ["taskset", "-c", LOADCPU, "wrk", "-t1", "-c4", "-d1s", "-H", "Connection: close", tls_url(name)],
            capture_output=True))
        out[name]["wire_resumed"] = w.summary() if w else None
        log(f"  wire check (c) {name:9} {w.short() if w else 'not available (needs root)'}")
    kinds = ("keepalive", "full", "resumed")
    runs = {k: {n: [] for n in PROXIES} for k in kinds}
    for r in range(ROUNDS):
        for kind in kinds:
            for name in order(r):
                c, url = PROXIES[name], tls_url(name)
                if kind == "keepalive":
                    subprocess.run(["taskset", "-c", LOADCPU, "wrk", "-t1", f"-c{CONNS}", "-d2s", url], capture_output=True)
                    res = wrk(url, CONNS, DUR, c["tls_proc"])
                    log(f"  round {r + 1} (a) {name:9} rps={res['rps']:.0f} p50={res['p50_us']:.0f}us p99={res['p99_us']:.0f}us "
                        f"errors={res['errors']} non2xx={res['non2xx']} cpu/req={res['cpu_us_per_req']:.1f}us "
                        f"new backend conns={res['new_backend_conns']} {load_cpu(res)}")
                elif kind == "full":
                    res = s_time(c["tls_port"], c["tls_path"], c["tls_proc"], DUR, HANDSHAKE_CLIENTS)
                    log(f"  round {r + 1} (b) {name:9} conns/s={res['rps']:.0f} cpu/conn={res['cpu_us_per_req']:.0f}us "
                        f"conns={res['requests']} failed s_time clients={res['failed_clients']} "
                        f"answers {res['bytes_per_conn']:.1f} B/conn (a 200 is {res['expected_bytes']} B: "
                        f"{'ok' if res['answers_as_expected'] else 'MISMATCH'}) new backend conns={res['new_backend_conns']} "
                        f"{load_cpu(res)}")
                else:
                    res = wrk(url, CONNS, DUR, c["tls_proc"], headers=("Connection: close",))
                    log(f"  round {r + 1} (c) {name:9} conns/s={res['rps']:.0f} cpu/conn={res['cpu_us_per_req']:.0f}us "
                        f"p99={res['p99_us']:.0f}us errors={res['errors']} non2xx={res['non2xx']} "
                        f"new backend conns={res['new_backend_conns']} {load_cpu(res)}")
                runs[kind][name].append(res)
    for name in PROXIES:
        ka, full, res = (runs[k][name] for k in kinds)
        out[name]["keepalive"] = {k: median(ka, k) for k in ("rps", "p50_us", "p99_us", "cpu_us_per_req", "client_cpu_pct")} | {
            "errors": sum(x["errors"] for x in ka), "non2xx": sum(x["non2xx"] for x in ka),
            "reuse": statistics.median(1 - max(x["new_backend_conns"], 0) / x["requests"] for x in ka)}
        out[name]["full"] = {"rps": median(full, "rps"), "cpu_us_per_conn": median(full, "cpu_us_per_req"),
                             "failed_clients": sum(x["failed_clients"] for x in full),
                             "answers_as_expected": all(x["answers_as_expected"] for x in full),
                             "client_cpu_pct": median(full, "client_cpu_pct")}
        out[name]["resumed"] = {"rps": median(res, "rps"), "cpu_us_per_conn": median(res, "cpu_us_per_req"),
                                "errors": sum(x["errors"] + x["non2xx"] for x in res),
                                "client_cpu_pct": median(res, "client_cpu_pct")}
    results["m7"] = out
    results["m7_round_ratios"] = {k: round_ratios(runs[k], ("rps", "cpu_us_per_req", "p99_us") if k == "keepalive"
                                                  else ("rps", "cpu_us_per_req")) for k in kinds}


def allocations_now(admin):
    req = urllib.request.Request(admin + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req) as r:
        text = r.read().decode()
    return int(re.search(r"^gatehouse_allocations_total (\d+)", text, re.M).group(1))


def alloc():
    log(f"## Heap allocations per request: the counting build (--features count-allocations: the system "
        f"allocator, counted), run like the other, wrk -t1 -c{CONNS} -d{DUR}s, {ROUNDS} runs")
    if not COUNTING_BIN or not os.path.exists(COUNTING_BIN):
        log("  skipped: no counting build (bench/run makes one; GATEHOUSE_COUNTING_BIN names it)")
        return
    g = GATEHOUSES["gatehouse-counting"]
    admin = f"http://127.0.0.1:{g['admin']}"
    paths = {"plain HTTP in (M1's path)": f"http://127.0.0.1:{g['gw']}/p/",
             "TLS in (M7's path)": f"https://127.0.0.1:{g['args'][1].split(':')[1]}/p/"}
    start_gatehouse("gatehouse-counting")
    runs = {k: [] for k in paths}
    try:
        configure_gatehouse("gatehouse-counting")
        for label, url in paths.items():
            wait_ready(url)
            subprocess.run(["taskset", "-c", LOADCPU, "wrk", "-t1", f"-c{CONNS}", "-d2s", url], capture_output=True)
        for r in range(ROUNDS):
            for label, url in paths.items():
                # Two readings before the load: their difference is one scrape's own allocations,
                # which the reading after the load also holds once.
                a1 = allocations_now(admin)
                a2 = allocations_now(admin)
                res = wrk(url, CONNS, DUR, "gatehouse-counting")
                a3 = allocations_now(admin)
                per = (a3 - a2 - (a2 - a1)) / res["requests"]
                runs[label].append(per)
                log(f"  round {r + 1} {label}: {a3 - a2 - (a2 - a1)} allocations over {res['requests']} requests "
                    f"(one scrape: {a2 - a1}) = {per:.1f} per request; errors={res['errors']} non2xx={res['non2xx']} "
                    f"new backend conns={res['new_backend_conns']}")
    finally:
        stop_gatehouse("gatehouse-counting")
    results["alloc"] = {k: statistics.median(v) for k, v in runs.items()}


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def row(label, values, fmt, ratios=True):
    """One table row: nginx, HAProxy, Gatehouse, then Gatehouse's ratio to each."""
    n, h, g = values
    cells = " | ".join("-" if v is None else fmt.format(v) for v in (n, h, g))
    tail = f" {ratio(g, n)} | {ratio(g, h)} |" if ratios else " | |"
    return f"| {label} | {cells} |{tail}"


def rr_row(label, rr, key):
    a, b = rr.get(f"{key}_vs_nginx"), rr.get(f"{key}_vs_haproxy")
    fmt = lambda x: "-" if x is None else f"{x:.2f}x"
    return f"| per-round ratios (median): {label} | | | | {fmt(a)} | {fmt(b)} |"


def summary():
    log()
    log("## Summary (Gatehouse / nginx, Gatehouse / HAProxy)")
    three = lambda table, key: tuple(table[k][key] for k in ("nginx", "haproxy", "gatehouse"))
    if "m1" in results or "alloc" in results:
        log(f"| M1 pooled mTLS, {CONNS} conns | nginx | HAProxy | Gatehouse | vs nginx | vs HAProxy |")
        log("|---|---|---|---|---|---|")
    if "m1" in results:
        m = results["m1"]
        for key, label in (("rps", "requests/s"), ("p50_us", "p50 (us)"), ("p99_us", "p99 (us)"),
                           ("cpu_us_per_req", "proxy CPU per request (us)"), ("reuse", "connection reuse")):
            log(row(label, three(m, key), "{:.4f}" if key == "reuse" else "{:.1f}"))
        log(row("failed requests", three(m, "errors"), "{}", ratios=False))
        rr = results["m1_round_ratios"]
        log(rr_row("requests/s", rr, "rps"))
        log(rr_row("CPU per request", rr, "cpu_us_per_req"))
        log(rr_row("p99", rr, "p99_us"))
    if "alloc" in results:
        for label, per in results["alloc"].items():
            log(f"| heap allocations per request, {label} (counting build*) | | | {per:.1f} | | |")
    if "m1" in results or "alloc" in results:
        if "alloc" in results:
            log("\n\\* from a second Gatehouse binary built with `--features count-allocations` (the system allocator,"
                " counted), run like the measured one; not the binary whose speed the table gives.\n")
    if "m2" in results:
        m = results["m2"]
        log("| M2 added latency, 1 conn | nginx | HAProxy | Gatehouse | vs nginx | vs HAProxy |")
        log("|---|---|---|---|---|---|")
        log(row("added p50 (us)", three(m, "added_p50_us"), "{:.0f}"))
        log(row("added p99 (us)", three(m, "added_p99_us"), "{:.0f}"))
        log(row("per round (median): added p50 (us)", three(m, "round_added_p50_us"), "{:.0f}"))
        log(row("per round (median): added p99 (us)", three(m, "round_added_p99_us"), "{:.0f}"))
    if "m3" in results:
        log("| M3 full handshake per request | nginx | HAProxy | Gatehouse | vs nginx | vs HAProxy |")
        log("|---|---|---|---|---|---|")
        for suffix, what in (("_like", "like for like (the M3 target)"), ("", "Gatehouse's defaults")):
            m, rr = results["m3" + suffix], results["m3" + suffix + "_round_ratios"]
            log(row(f"{what}: requests/s", three(m, "rps"), "{:.0f}"))
            log(row(f"{what}: proxy CPU per handshake (us)", three(m, "cpu_us_per_handshake"), "{:.0f}"))
            log(rr_row(f"{what}: CPU per handshake", rr, "cpu_us_per_req"))
            log(row(f"{what}: failed requests", three(m, "errors"), "{}", ratios=False))
            wires = [m[k]["wire"] for k in ("nginx", "haproxy", "gatehouse")]
            cells = " | ".join(f"{w['suites']}; {w['groups']}; resumed {w['resumed']}/{w['server_hellos']}" if w else "-"
                               for w in wires)
            log(f"| {what}: back-end handshakes on the wire | {cells} | | |")
        log("\nThe M3 target (CPU per handshake at most half of nginx's) is judged on the like-for-like rows: the same")
        log("back-end suite preference for all three, and Gatehouse without its verified-chain cache, which")
        log("nginx and HAProxy do not have. The rows for Gatehouse's defaults show what the cache is worth.\n")
    if "m4" in results:
        m = results["m4"]
        log(f"| M4 memory per 10k idle clients (fresh processes, median of {ROUNDS}) | nginx | HAProxy | Gatehouse | vs nginx | vs HAProxy |")
        log("|---|---|---|---|---|---|")
        log(row("MiB", three(m, "mib_per_10k"), "{:.1f}"))
        log(row("connections that failed to open", three(m, "failed"), "{}", ratios=False))
        log(rr_row("MiB", results["m4_round_ratios"], "mib"))
    if "m5" in results:
        log("| M5 certificate change under load | wrk socket errors | wrk non-2xx | probe failed | first new (ms) | last old (ms) |")
        log("|---|---|---|---|---|---|")
        for name in PROXIES:
            m = results["m5"][name]
            log(f"| {name} | {m['wrk_errors']} | {m['wrk_non2xx']} | {m['probe_failed']} | {m['first_new_ms']:.0f} | "
                f"{m['last_old_ms']:.0f} |")
    if "m6" in results:
        m = results["m6"]
        log(f"| M6 PUT to effect | median {m['median_ms']:.1f} ms | max {m['max_ms']:.1f} ms | stale {m['stale_responses']} |")
    if "m7" in results:
        m, rr = results["m7"], results["m7_round_ratios"]
        sub = lambda part, key: tuple(m[k][part][key] for k in ("nginx", "haproxy", "gatehouse"))
        log("| M7 TLS in + pooled mTLS out | nginx | HAProxy | Gatehouse | vs nginx | vs HAProxy |")
        log("|---|---|---|---|---|---|")
        probes = [m[k]["probe"] for k in ("nginx", "haproxy", "gatehouse")]
        log("| negotiated (openssl s_client) | " + " | ".join(
            f"{p['protocol']} {p['cipher']} {p['temp_key']}" for p in probes) + " | | |")
        # A full handshake costs the client about what it costs the server, and the client has one
        # core too: when the client was busy, connections/s is its pace, not the proxy's.
        bound = lambda part: " (load generator saturated: compare CPU per request or connection)" if max(
            sub(part, "client_cpu_pct")) >= 90 else ""
        log(row(f"(a) keep-alive, {CONNS} conns: requests/s{bound('keepalive')}", sub("keepalive", "rps"), "{:.1f}"))
        log(row("(a) p50 (us)", sub("keepalive", "p50_us"), "{:.1f}"))
        log(row("(a) p99 (us)", sub("keepalive", "p99_us"), "{:.1f}"))
        log(row("(a) proxy CPU per request (us)", sub("keepalive", "cpu_us_per_req"), "{:.1f}"))
        log(row("(a) back-end connection reuse", sub("keepalive", "reuse"), "{:.4f}"))
        log(row("(a) load generator's own CPU (%)", sub("keepalive", "client_cpu_pct"), "{:.0f}", ratios=False))
        log(row("(a) wrk socket errors / non-2xx", tuple(f"{x['keepalive']['errors']} / {x['keepalive']['non2xx']}"
                                                        for x in (m["nginx"], m["haproxy"], m["gatehouse"])), "{}",
                ratios=False))
        log(rr_row("(a) requests/s", rr["keepalive"], "rps"))
        log(rr_row("(a) CPU per request", rr["keepalive"], "cpu_us_per_req"))
        log(rr_row("(a) p99", rr["keepalive"], "p99_us"))
        log(row(f"(b) full handshake, new connection per request: connections/s{bound('full')}", sub("full", "rps"), "{:.0f}"))
        log(row("(b) proxy CPU per connection (us)", sub("full", "cpu_us_per_conn"), "{:.0f}"))
        log(rr_row("(b) connections/s", rr["full"], "rps"))
        log(rr_row("(b) CPU per connection", rr["full"], "cpu_us_per_req"))
        log(row("(b) failed s_time clients", sub("full", "failed_clients"), "{}", ratios=False))
        log(row("(b) every answer a 200's length", tuple("yes" if x else "NO" for x in sub("full", "answers_as_expected")),
                "{}", ratios=False))
        log(row("(b) load generator's own CPU (%)", sub("full", "client_cpu_pct"), "{:.0f}", ratios=False))
        wires = [m[k]["wire_full"] for k in ("nginx", "haproxy", "gatehouse")]
        log("| (b) resumed handshakes in the wire check | " + " | ".join(
            f"{w['resumed']} of {w['server_hellos']}" if w else "-" for w in wires) + " | | |")
        log(row(f"(c) resumed handshake, new connection per request: connections/s{bound('resumed')}", sub("resumed", "rps"), "{:.0f}"))
        log(row("(c) proxy CPU per connection (us)", sub("resumed", "cpu_us_per_conn"), "{:.0f}"))
        log(rr_row("(c) connections/s", rr["resumed"], "rps"))
        log(rr_row("(c) CPU per connection", rr["resumed"], "cpu_us_per_req"))
        log(row("(c) wrk socket errors + non-2xx", sub("resumed", "errors"), "{}", ratios=False))
        log(row("(c) load generator's own CPU (%)", sub("resumed", "client_cpu_pct"), "{:.0f}", ratios=False))
        wires = [m[k]["wire_resumed"] for k in ("nginx", "haproxy", "gatehouse")]
        log("| (c) resumed handshakes in the wire check | " + " | ".join(
            f"{w['resumed']} of {w['server_hellos']}" if w else "-" for w in wires) + " | | |")
    if "soak" in results:
        r = results["soak"]
        log("| Rotation soak | value |")
        log("|---|---|")
        log(f"| certificate versions changed under load | {r['changes']} |")
        log(f"| requests through the gateway (wrk -c{CONNS}) | {r['requests']} ({r['rps']:.0f}/s) |")
        log(f"| wrk socket errors / non-2xx | {r['wrk_errors']} / {r['non2xx']} |")
        log(f"| new certificate at the back end after the PUT's answer: p50 / p99 / max (ms) | "
            f"{r['presented_ms']['p50']:.1f} / {r['presented_ms']['p99']:.1f} / {r['presented_ms']['max']:.1f} |")
        log(f"| changes presented later than 100 ms | {r['over_100ms']} |")
        log(f"| requests with an older version more than 1 s after its successor | {r['old_version_requests_after_1s']} |")
        log(f"| latest request with an older version, after its successor (ms) | {r['oldest_after_change_ms']:.0f} |")
    if "m8" in results:
        m = results["m8"]
        log("| M8 change to effect on three nodes (ms) | p50 | p99 | max |")
        log("|---|---|---|---|")
        for key, label in (("own", "writer's gateway presents the new certificate"),
                           ("others", "other nodes' gateways present it"),
                           ("health", "other nodes serve the revision (/health)")):
            log(f"| {label} | {m[key]['p50']:.1f} | {m[key]['p99']:.1f} | {m[key]['max']:.1f} |")
        log("| Kong's reference: `db_update_frequency` polling, default 5 s | up to 5,000 | | |")
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(WORK, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    log(f"\n(results in {WORK}/results.json and summary.md)")


def main():
    steps = sys.argv[1:] or ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "alloc"]
    model = sh("grep -m1 'model name' /proc/cpuinfo").split(":")[1].strip()
    log(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {os.cpu_count()} cores, "
        f"{model}, kernel {os.uname().release}")
    log(f"# {sh('nginx -v 2>&1').strip()}, {sh('haproxy -v').splitlines()[0]}, {sh('openssl version').strip()}, "
        f"{sh(BIN + ' --version').strip()}; wrk on cpu{LOADCPU}, proxies and back end on cpu{SRVCPU}; "
        f"DUR={DUR}s ROUNDS={ROUNDS} CONNS={CONNS} IDLE_N={IDLE_N} HANDSHAKE_CLIENTS={HANDSHAKE_CLIENTS}")
    start_all()
    try:
        for step in steps:
            globals()[step]()
    finally:
        stop_all()
    summary()


if __name__ == "__main__":
    main()
