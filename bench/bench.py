#!/usr/bin/env python3
"""Gatehouse vs nginx vs HAProxy: plain HTTP in, mutual TLS out, to one nginx back end that
requires a client certificate. Started by bench/run; see BENCHMARKS.md for the figures.

Every server is started here, recorded by PID and stopped by PID. Proxies and back end share
SRVCPU; wrk and probes run on LOADCPU.
"""

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import statistics
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
LOADCPU = os.environ.get("LOADCPU", "0")
SRVCPU = os.environ.get("SRVCPU", "1")
BIN = os.environ["GATEHOUSE_BIN"]
WORK = os.environ.get("DIR") or tempfile.mkdtemp(prefix="gatehouse-bench.")
HZ = os.sysconf("SC_CLK_TCK")
TOKEN = "bench-admin-token-0123456789abcdef"
ADMIN = "http://127.0.0.1:8301"
GW = "http://127.0.0.1:8381"

# Each proxy: where wrk sends pooled traffic, full-handshake traffic, and how to find its PIDs.
PROXIES = {
    "nginx": {"pooled": "http://127.0.0.1:8081/", "full": "http://127.0.0.1:8083/", "pidfile": "nginx-proxy.pid"},
    "haproxy": {"pooled": "http://127.0.0.1:8181/", "full": "http://127.0.0.1:8183/", "pidfile": "haproxy.pid"},
    "gatehouse": {"pooled": GW + "/p/", "full": GW + "/f/", "pidfile": "gatehouse.pid"},
}

results = {}
lines = []


def log(text=""):
    print(text, flush=True)
    lines.append(text)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True, **kw).stdout


def pids(name):
    path = os.path.join(WORK, PROXIES[name]["pidfile"] if name in PROXIES else name)
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


def wrk(url, conns, dur, proxy=None):
    """One wrk run: throughput, latency percentiles, errors, proxy CPU, back-end accepts."""
    ps = pids(proxy) if proxy else []
    a0, c0 = accepts(), ticks(ps)
    out = subprocess.run(
        ["taskset", "-c", LOADCPU, "wrk", "-t1", f"-c{conns}", f"-d{dur}s", "--latency", url],
        capture_output=True, text=True,
    ).stdout
    c1, a1 = ticks(ps), accepts()
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
    }


def api(method, path, body=None):
    req = urllib.request.Request(ADMIN + path, method=method, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(req, data) as r:
        return json.loads(r.read() or b"null")


def start_all():
    certs = os.path.join(WORK, "certs")
    if not os.path.exists(os.path.join(certs, "ca.pem")):
        subprocess.run(["bash", os.path.join(HERE, "gen-certs.sh")], env={**os.environ, "DIR": WORK},
                       check=True, capture_output=True)
    os.makedirs(os.path.join(WORK, "tmp"), exist_ok=True)
    for f in ("backend-nginx.conf", "proxy-nginx.conf", "proxy-haproxy.cfg"):
        shutil.copy(os.path.join(HERE, f), WORK)
    sh(f"taskset -c {SRVCPU} nginx -p {WORK}/ -c {WORK}/backend-nginx.conf")
    sh(f"taskset -c {SRVCPU} nginx -p {WORK}/ -c {WORK}/proxy-nginx.conf")
    sh(f"cd {WORK} && taskset -c {SRVCPU} haproxy -D -p haproxy.pid -f proxy-haproxy.cfg")
    data = os.path.join(WORK, "gatehouse-data")
    env = {**os.environ, "GATEHOUSE_ADMIN_TOKEN": TOKEN, "RUST_LOG": "warn"}
    logf = open(os.path.join(WORK, "gatehouse.log"), "w")
    gh = subprocess.Popen(
        ["taskset", "-c", SRVCPU, BIN, "serve", "--data-dir", data, "--admin-listen", "127.0.0.1:8301",
         "--gateway-listen", "127.0.0.1:8381", "--worker-threads", "1"],
        env=env, stdout=logf, stderr=logf)
    with open(os.path.join(WORK, "gatehouse.pid"), "w") as f:
        f.write(str(gh.pid))
    for _ in range(100):
        try:
            urllib.request.urlopen(ADMIN + "/health")
            break
        except OSError:
            time.sleep(0.1)
    read = lambda name: open(os.path.join(certs, name)).read()
    api("PUT", "/caCertificates/bench-ca", {"properties": {"data": base64.b64encode(read("ca.pem").encode()).decode()}})
    api("PUT", "/certificates/client-a", {"properties": {"pem": read("client.pem") + read("client.key")}})
    api("PUT", "/certificates/client-b", {"properties": {"pem": read("client-b.pem") + read("client-b.key")}})
    # The server certificate names IP:127.0.0.1 and backend.local; the URL's host is checked.
    api("PUT", "/backends/pooled", {"properties": {"url": "https://127.0.0.1:9443/p",
                                                   "tls": {"caCertificateIds": ["bench-ca"]}}})
    api("PUT", "/backends/full", {"properties": {"url": "https://127.0.0.1:9443/f",
                                                 "tls": {"caCertificateIds": ["bench-ca"], "sessionResumption": False},
                                                 "pool": {"maxIdleConnections": 0}}})
    for name in ("p", "f"):
        api("PUT", f"/apis/{name}", {"properties": {"path": name, "serviceUrl": f"https://127.0.0.1:9443/{name}"}})
        api("PUT", f"/apis/{name}/operations/all", {"properties": {"method": "*", "urlTemplate": "/*"}})
        api("PUT", f"/apis/{name}/gatewayCredentials",
            {"properties": {"type": "clientCertificate", "certificateId": "client-a"}})
    time.sleep(0.5)
    return gh


def stop_all(gh):
    for name, sig in (("nginx-proxy.pid", signal.SIGQUIT), ("nginx-backend.pid", signal.SIGQUIT),
                      ("haproxy.pid", signal.SIGUSR1)):
        try:
            os.kill(pids(name)[0], sig)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    gh.send_signal(signal.SIGTERM)
    try:
        gh.wait(10)
    except subprocess.TimeoutExpired:
        gh.kill()
    time.sleep(1)


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
    results["m2"] = {n: {"added_p50_us": median(v, "p50_us") - direct["p50_us"],
                         "added_p99_us": median(v, "p99_us") - direct["p99_us"]}
                     for n, v in runs.items() if n != "direct"}
    results["m2"]["direct"] = direct


def m3():
    log(f"## M3 a new full mutual-TLS handshake for every request (no pool, no resumption), wrk -c{CONNS} -d{DUR}s")
    runs = {n: [] for n in PROXIES}
    for r in range(ROUNDS):
        for name in order(r):
            res = wrk(PROXIES[name]["full"], CONNS, DUR, name)
            runs[name].append(res)
            log(f"  round {r + 1} {name:9} rps={res['rps']:.0f} cpu/handshake={res['cpu_us_per_req']:.0f}us "
                f"new backend conns={res['new_backend_conns']} requests={res['requests']} errors={res['errors']}")
    results["m3"] = {n: {"rps": median(v, "rps"), "cpu_us_per_handshake": median(v, "cpu_us_per_req")}
                     for n, v in runs.items()}
    results["m3_round_ratios"] = round_ratios(runs, ("rps", "cpu_us_per_req"))


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
    # One measurement per proxy: a second one on the same process measures memory it kept from
    # the first (nginx and HAProxy then show ~0), not what 10k idle clients cost.
    log(f"## M4 memory per 10,000 idle keep-alive client connections ({IDLE_N} opened once per proxy, scaled)")
    out = {}
    for name in PROXIES:
        samples = []
        for _ in range(1):
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
            samples.append(mib)
            log(f"  {name:9} opened={opened} failed={failed} RSS {r0} -> {r1} kB = {mib:.1f} MiB per 10k")
            time.sleep(2)
        out[name] = {"mib_per_10k": statistics.median(samples)}
    results["m4"] = out


def probe(port, path, want, dur, out):
    """Fresh connection every ~5 ms: first response with the new certificate, last with the old."""
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
    load = subprocess.Popen(["taskset", "-c", LOADCPU, "wrk", "-t1", f"-c{CONNS}", f"-d{DUR}s", "--latency", url],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    seen = {}
    t = threading.Thread(target=probe, args=(port, path, b"gateway-b", DUR - 3, seen))
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
    return {"failed": errors + non2xx + seen["failed"], "first_new_ms": first, "last_old_ms": last,
            "probe_new": seen["new"], "probe_old": seen["old"]}


def haproxy_cli(payload):
    s = socket.create_connection(("127.0.0.1", 8199))
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    return s.makefile().read().strip()


def m5():
    log(f"## M5 client certificate A -> B under load (wrk -c{CONNS} {DUR}s, change at t=3s, probe every ~5 ms)")
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
            log(f"  round {r + 1} {name:9} ({how}) failed={res['failed']} first new cert after "
                f"{res['first_new_ms']} ms, last old cert {res['last_old_ms']} ms after")
    results["m5"] = {n: {"failed": sum(x["failed"] for x in v),
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


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def summary():
    log()
    log("## Summary (Gatehouse / nginx, Gatehouse / HAProxy)")
    if "m1" in results:
        g, n, h = (results["m1"][k] for k in ("gatehouse", "nginx", "haproxy"))
        log("| M1 pooled mTLS, 50 conns | nginx | HAProxy | Gatehouse | vs nginx | vs HAProxy |")
        log("|---|---|---|---|---|---|")
        for key, label in (("rps", "requests/s"), ("p50_us", "p50 (us)"), ("p99_us", "p99 (us)"),
                           ("cpu_us_per_req", "proxy CPU per request (us)"), ("reuse", "connection reuse")):
            fmt = "{:.4f}" if key == "reuse" else "{:.1f}"
            log(f"| {label} | {fmt.format(n[key])} | {fmt.format(h[key])} | {fmt.format(g[key])} | "
                f"{ratio(g[key], n[key])} | {ratio(g[key], h[key])} |")
        log(f"| failed requests | {n['errors']} | {h['errors']} | {g['errors']} | | |")
        rr = results.get("m1_round_ratios", {})
        log(f"| per-round ratios (median): requests/s | | | | {rr['rps_vs_nginx']:.2f}x | {rr['rps_vs_haproxy']:.2f}x |")
        log(f"| per-round ratios (median): CPU per request | | | | {rr['cpu_us_per_req_vs_nginx']:.2f}x | {rr['cpu_us_per_req_vs_haproxy']:.2f}x |")
        log(f"| per-round ratios (median): p99 | | | | {rr['p99_us_vs_nginx']:.2f}x | {rr['p99_us_vs_haproxy']:.2f}x |")
    if "m2" in results:
        g, n, h = (results["m2"][k] for k in ("gatehouse", "nginx", "haproxy"))
        log("| M2 added latency, 1 conn | nginx | HAProxy | Gatehouse | vs nginx | vs HAProxy |")
        log("|---|---|---|---|---|---|")
        for key, label in (("added_p50_us", "added p50 (us)"), ("added_p99_us", "added p99 (us)")):
            log(f"| {label} | {n[key]:.0f} | {h[key]:.0f} | {g[key]:.0f} | {ratio(g[key], n[key])} | {ratio(g[key], h[key])} |")
    if "m3" in results:
        g, n, h = (results["m3"][k] for k in ("gatehouse", "nginx", "haproxy"))
        log("| M3 full handshake per request | nginx | HAProxy | Gatehouse | vs nginx | vs HAProxy |")
        log("|---|---|---|---|---|---|")
        for key, label in (("rps", "requests/s"), ("cpu_us_per_handshake", "proxy CPU per handshake (us)")):
            log(f"| {label} | {n[key]:.0f} | {h[key]:.0f} | {g[key]:.0f} | {ratio(g[key], n[key])} | {ratio(g[key], h[key])} |")
        rr = results.get("m3_round_ratios", {})
        log(f"| per-round ratios (median): CPU per handshake | | | | {rr['cpu_us_per_req_vs_nginx']:.2f}x | {rr['cpu_us_per_req_vs_haproxy']:.2f}x |")
    if "m4" in results:
        g, n, h = (results["m4"][k]["mib_per_10k"] for k in ("gatehouse", "nginx", "haproxy"))
        log("| M4 memory per 10k idle clients | nginx | HAProxy | Gatehouse | vs nginx | vs HAProxy |")
        log("|---|---|---|---|---|---|")
        log(f"| MiB | {n:.1f} | {h:.1f} | {g:.1f} | {ratio(g, n)} | {ratio(g, h)} |")
    if "m5" in results:
        log("| M5 certificate change under load | failed requests | first new (ms) | last old (ms) |")
        log("|---|---|---|---|")
        for name in PROXIES:
            m = results["m5"][name]
            log(f"| {name} | {m['failed']} | {m['first_new_ms']:.0f} | {m['last_old_ms']:.0f} |")
    if "m6" in results:
        m = results["m6"]
        log(f"| M6 PUT to effect | median {m['median_ms']:.1f} ms | max {m['max_ms']:.1f} ms | stale {m['stale_responses']} |")
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(WORK, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    log(f"\n(results in {WORK}/results.json and summary.md)")


def main():
    steps = sys.argv[1:] or ["m1", "m2", "m3", "m4", "m5", "m6"]
    model = sh("grep -m1 'model name' /proc/cpuinfo").split(":")[1].strip()
    log(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {os.cpu_count()} cores, "
        f"{model}, kernel {os.uname().release}")
    log(f"# {sh('nginx -v 2>&1').strip()}, {sh('haproxy -v').splitlines()[0]}, {sh('openssl version').strip()}, "
        f"{sh(BIN + ' --version').strip()}; wrk on cpu{LOADCPU}, proxies and back end on cpu{SRVCPU}; "
        f"DUR={DUR}s ROUNDS={ROUNDS} CONNS={CONNS}")
    gh = start_all()
    try:
        for step in steps:
            globals()[step]()
    finally:
        stop_all(gh)
    summary()


if __name__ == "__main__":
    main()
