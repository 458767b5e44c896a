"""Ingress throughput of hookrouter next to a bare Starlette endpoint, measured in one run with wrk.

    python bench/ingest.py [--duration 10] [--connections 50] [--threads 2] [--body-bytes 1024]

(a) bench/bare_app.py: a POST endpoint that reads the body and answers 200, served by uvicorn with the
    options ``hookrouter serve`` uses (one process, the same loop and HTTP implementations).
(h) bench/handwritten_app.py: the Slack endpoint a user would write by hand (verify the signature, XADD the
    body, answer), on its own throwaway redis-server: the least a Python service can do and still store each
    webhook verified, so its share of (a) bounds what Python ingest reaches on this machine (``--no-handwritten``
    leaves it out).
(b) a real ``hookrouter serve --apply CONFIG`` subprocess with its routing workers on, backed by a
    throwaway redis-server on a unix socket in a temporary directory (never a shared Redis), and a
    config whose Slack integration, credential and workflow match the event, so every request is
    verified, stored, and then routed to a workflow as in production.

Both get the same wrk load (bench/ingest.lua: the same Slack-signed body and headers) over 127.0.0.1.
The signature timestamp is taken once at start and Slack accepts it for 300 s, so runs are capped at
60 s each. Every subprocess is stopped at the end, also on error or Ctrl-C. wrk comes from the Debian
package ``wrk``; it is installed with apt-get when missing and apt-get can run as root.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx
from redis import Redis
from redis.exceptions import RedisError

import verifiers
from router.storage.keys import Keys

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "ingest.lua"
BARE_APP = HERE / "bare_app.py"
HANDWRITTEN_APP = HERE / "handwritten_app.py"
INTEGRATION_ID = "bench-slack"
TEAM_ID = "TBENCH"
PATH = f"/webhook/triggers/connect/slack/{INTEGRATION_ID}"
SLACK_TOLERANCE_S = 300  # verifiers/slack.py
MAX_DURATION_S = 60
START_TIMEOUT_S = 20.0
DRAIN_TIMEOUT_S = 30.0
TARGET_RATIO = 0.85
CONFIG = """\
project: {{id: bench, name: Ingest bench}}
integrations:
  - {{id: {integration}, type: slack, secrets: ["{secret}"]}}
users:
  - {{id: bench-user}}
credentials:
  - {{id: bench-cred, user: bench-user, integration: {integration}, provider_id: {team}}}
workflows:
  - {{id: bench-wf, name: Bench message, integration: {integration}, trigger: "*", activations: [bench-user]}}
"""
RESULT = re.compile(r"^BENCH_RESULT (.*)$", re.MULTILINE)


class BenchError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_us: int
    p50_us: int
    p90_us: int
    p99_us: int
    max_us: int
    errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        match = RESULT.search(output)
        if match is None:
            raise BenchError(f"wrk printed no BENCH_RESULT line:\n{output}")
        v = {key: int(value) for key, value in (item.split("=") for item in match.group(1).split())}
        errors = {k: v[k] for k in ("connect", "read", "write", "status", "timeout")}
        return cls(v["requests"], v["duration_us"], v["p50_us"], v["p90_us"], v["p99_us"], v["max_us"], errors)


@dataclass(frozen=True, slots=True)
class Run:
    wrk: WrkResult
    cpu_s: dict[str, float]  # CPU seconds each server-side process used during the measured run

    def cpu_us_per_request(self, name: str) -> float | None:
        seconds = self.cpu_s.get(name)
        return None if seconds is None or not self.wrk.requests else seconds * 1e6 / self.wrk.requests


@dataclass(frozen=True, slots=True)
class Load:
    wrk: str
    duration_s: int
    warmup_s: int
    connections: int
    threads: int
    env: Mapping[str, str]  # BENCH_* inputs of ingest.lua
    expires_at: float  # the signature's timestamp + Slack's tolerance
    verbose: bool


# -- setup ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    def duration(text: str) -> int:
        value = int(text)
        if not 1 <= value <= MAX_DURATION_S:
            raise argparse.ArgumentTypeError(f"1..{MAX_DURATION_S} s: the signature expires {SLACK_TOLERANCE_S} s in")
        return value

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=duration, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="open HTTP connections (default 50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--body-bytes", type=int, default=1024, help="request body size (default 1024)")
    parser.add_argument("--warmup", type=int, default=1, choices=range(0, 6), help="unmeasured seconds first")
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of hookrouter during run (b)")
    parser.add_argument(
        "--separate-workers", action="store_true", help="route in a `hookrouter worker` process, not in the server"
    )
    parser.add_argument(
        "--no-handwritten", dest="handwritten", action="store_false", help="skip run (h), the hand-written endpoint"
    )
    parser.add_argument("--verbose", action="store_true", help="also print wrk's own output")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.connections < args.threads:
        parser.error("need --threads >= 1 and --connections >= --threads")
    return args


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise BenchError("wrk is not installed and cannot be installed here: run `sudo apt-get install -y wrk`")
    print("wrk not found: installing the Debian package with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run([apt, "install", "-y", "-q", "wrk"], env=env, capture_output=True).returncode != 0:
        subprocess.run([apt, "update", "-q"], env=env, capture_output=True)  # a fresh machine has no lists
        done = subprocess.run([apt, "install", "-y", "-q", "wrk"], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"apt-get install wrk failed:\n{done.stderr.strip()}")
    found = shutil.which("wrk")
    if found is None:
        raise BenchError("apt-get installed wrk but it is not on PATH")
    return found


def slack_body(size: int) -> bytes:
    """A Slack Events API message event from workspace TEAM_ID, padded to exactly ``size`` bytes."""

    def render(text: str) -> bytes:
        event = {"type": "message", "channel": "C1", "user": "U1", "text": text}
        doc = {"type": "event_callback", "team_id": TEAM_ID, "event_id": "EvBENCH", "event": event}
        return json.dumps(doc, separators=(",", ":")).encode()

    shortest = len(render(""))
    if size < shortest:
        raise BenchError(f"--body-bytes must be at least {shortest} (the smallest routable event)")
    return render("x" * (size - shortest))


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    return verifiers.sign("slack", secrets=[secret], body=body, now=int(timestamp))["x-slack-signature"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- subprocesses --------------------------------------------------------------------------------


class Processes:
    """Started subprocesses, each in its own session, all stopped (TERM, then KILL) on exit."""

    def __init__(self, logdir: Path) -> None:
        self._logdir = logdir
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.log(name), "wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._procs.append((name, proc))
        return proc

    def log(self, name: str) -> Path:
        return self._logdir / f"{name}.log"

    def tail(self, name: str, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log(name).read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for _, proc in reversed(self._procs):
            self.stop(proc)


def start_redis(procs: Processes, workdir: Path, name: str = "redis") -> tuple[Path, int]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise BenchError("redis-server not installed (apt-get install redis-server)")
    sock = workdir / f"{name}.sock"
    args = [exe, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700", "--dir", str(workdir)]
    proc = procs.start(name, [*args, "--save", "", "--appendonly", "no"])
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        with contextlib.suppress(RedisError), Redis(unix_socket_path=str(sock)) as client:
            if client.ping():
                return sock, proc.pid
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"redis-server did not start:\n{procs.tail(name)}")
        time.sleep(0.05)


def wait_healthy(procs: Processes, name: str, proc: subprocess.Popen[bytes], base: str, path: str = "/healthz") -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base + path, timeout=1).status_code == 200:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"{name} did not become healthy:\n{procs.tail(name)}")
        time.sleep(0.1)


def post_once(url: str, body: bytes, env: Mapping[str, str]) -> tuple[int, str]:
    """One request as wrk will send it, so a bad signature fails loudly instead of as 100% 401s."""
    headers = {
        "content-type": "application/json",
        "x-slack-request-timestamp": env["BENCH_SLACK_TIMESTAMP"],
        "x-slack-signature": env["BENCH_SLACK_SIGNATURE"],
    }
    try:
        reply = httpx.post(url, content=body, headers=headers, timeout=5)
    except httpx.HTTPError as exc:
        raise BenchError(f"POST {url} failed: {type(exc).__name__}") from exc
    return reply.status_code, reply.text


# -- measuring -----------------------------------------------------------------------------------


def run_wrk(load: Load, url: str, duration_s: int) -> WrkResult:
    args = [load.wrk, f"-t{load.threads}", f"-c{load.connections}", f"-d{duration_s}s", "--latency"]
    env = {**os.environ, **load.env}
    done = subprocess.run(
        [*args, "-s", str(LUA_SCRIPT), url], env=env, capture_output=True, text=True, timeout=duration_s + 30
    )
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    if load.verbose:
        print(done.stdout, end="", flush=True)
    return WrkResult.parse(done.stdout)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far, from /proc (None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after "pid (comm)": field 3 (state) is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def measure(load: Load, url: str, body: bytes, name: str, pids: Mapping[str, int]) -> Run:
    if time.time() + load.warmup_s + load.duration_s + 5 > load.expires_at:
        raise BenchError(f"{name}: the Slack signature would expire during the run; use a shorter --duration")
    status, text = post_once(url, body, load.env)
    if status != 200:
        raise BenchError(f"{name}: a single signed POST got {status} {text[:200]}; not benchmarking that")
    if load.warmup_s:
        run_wrk(load, url, load.warmup_s)
    before = {k: cpu_seconds(pid) for k, pid in pids.items()}
    result = run_wrk(load, url, load.duration_s)
    after = {k: cpu_seconds(pid) for k, pid in pids.items()}
    cpu = {k: a - b for k, b in before.items() if b is not None and (a := after[k]) is not None}
    return Run(result, cpu)


def bench_bare(procs: Processes, load: Load, body: bytes) -> Run:
    port = free_port()
    proc = procs.start("bare", [sys.executable, str(BARE_APP), "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(procs, "bare", proc, base)
        return measure(load, base + PATH, body, "bare", {"server": proc.pid})
    finally:
        procs.stop(proc)  # free the CPU before (b) starts


def bench_handwritten(procs: Processes, load: Load, body: bytes, secret: str, workdir: Path) -> Run:
    redis_sock, redis_pid = start_redis(procs, workdir, "redis-handwritten")
    port = free_port()
    args = [sys.executable, str(HANDWRITTEN_APP), "--port", str(port), "--redis", f"unix://{redis_sock}"]
    proc = procs.start("handwritten", [*args, "--secret", secret])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(procs, "handwritten", proc, base)
        return measure(load, base + PATH, body, "handwritten", {"server": proc.pid, "redis": redis_pid})
    finally:
        procs.stop(proc)


def hookrouter_env(redis_sock: Path, data_dir: Path, port: int, *, run_workers: bool = True) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("HOOKROUTER_") and k != "REDIS_URL"}
    return {
        **inherited,
        "HOOKROUTER_REDIS_URL": f"unix://{redis_sock}",
        "HOOKROUTER_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "HOOKROUTER_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "HOOKROUTER_DATA_DIR": str(data_dir),
        "HOOKROUTER_HOST": "127.0.0.1",
        "HOOKROUTER_PORT": str(port),
        "HOOKROUTER_RUN_WORKERS": "true" if run_workers else "false",
        # wrk replays one signed body (one Slack event_id): with deduplication on, every request after the
        # first would take the cheaper "already stored" path. Off, each request is a real append + route.
        "HOOKROUTER_DEDUP_WINDOW_S": "0",
    }


def bench_hookrouter(
    procs: Processes, load: Load, body: bytes, secret: str, workdir: Path, profile: Path | None, separate: bool = False
) -> Run:
    exe = shutil.which("hookrouter", path=str(Path(sys.executable).parent)) or shutil.which("hookrouter")
    if exe is None:
        raise BenchError("the hookrouter command is not installed (pip install -e . in the virtualenv)")
    redis_sock, redis_pid = start_redis(procs, workdir)
    config = workdir / "bench.yaml"
    config.write_text(CONFIG.format(integration=INTEGRATION_ID, secret=secret, team=TEAM_ID))
    port = free_port()
    env = hookrouter_env(redis_sock, workdir / "data", port, run_workers=not separate)
    proc = procs.start("hookrouter", [exe, "serve", "--apply", str(config)], env)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(procs, "hookrouter", proc, base, "/readyz")  # Redis writable, every task running
    pids = {"server": proc.pid, "redis": redis_pid}
    if separate:  # after the server applied the config: the worker reads it from Redis
        health = free_port()
        worker = procs.start("worker", [exe, "worker"], {**env, "HOOKROUTER_HEALTH_PORT": str(health)})
        wait_healthy(procs, "worker", worker, f"http://127.0.0.1:{health}", "/readyz")
        pids["worker"] = worker.pid
    if profile is None:
        result = measure(load, base + PATH, body, "hookrouter", pids)
    else:
        result = _profiled(procs, load, base + PATH, body, pids, profile)
    print(drain_report(redis_sock, load_ended=time.monotonic()), flush=True)
    print(coalescing_report(base), flush=True)
    return result


def _profiled(procs: Processes, load: Load, url: str, body: bytes, pids: Mapping[str, int], out: Path) -> Run:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise BenchError("--profile needs py-spy (pip install py-spy)")
    # py-spy samples the server from outside (no code changes); it costs CPU, so a profiled run reads slower.
    duration = load.duration_s + load.warmup_s + 2
    args = [
        spy,
        "record",
        "--pid",
        str(pids["server"]),
        "--duration",
        str(duration),
        "--rate",
        "200",
        "--format",
        "raw",
    ]
    spy_proc = procs.start("py-spy", [*args, "--output", str(out.resolve()), "--nonblocking"])
    result = measure(load, url, body, "hookrouter", pids)
    spy_proc.wait(timeout=30)
    print(f"profile (py-spy collapsed stacks): {out}", flush=True)
    return result


def coalescing_report(base: str) -> str:
    """How many appends each ingest pipeline carried (EventStore.add coalesces a loop turn's appends)."""
    text = httpx.get(base + "/metrics", timeout=5).text

    def total(name: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))

    pipelines = total('hookrouter_redis_command_duration_seconds_count{operation="ingest"}')
    stored = total("hookrouter_events_stored_total{")
    per = stored / pipelines if pipelines else 0.0
    return f"ingest pipelines: {pipelines:.0f} for {stored:.0f} stored events ({per:.1f} appends per round trip)"


def drain_report(redis_sock: Path, *, load_ended: float) -> str:
    """How many stored events the routing worker has settled, waiting a little for it to catch up."""
    keys = Keys()
    with Redis(unix_socket_path=str(redis_sock)) as client:
        while True:
            stored = int(client.xlen(keys.ingest))
            routed = int(client.hlen(keys.outcomes))
            waited = time.monotonic() - load_ended
            if routed >= stored or waited > DRAIN_TIMEOUT_S:
                break
            time.sleep(0.1)
        matched = sum(b'"status":"matched"' in v for v in client.hvals(keys.outcomes))
    return (
        f"routing worker: {stored} events stored, {routed} routed ({matched} matched a workflow); "
        f"caught up {waited:.1f} s after the load ended"
    )


# -- report --------------------------------------------------------------------------------------


def _ms(us: int) -> str:
    return f"{us / 1000:.2f} ms"


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} us"


def report(
    args: argparse.Namespace, wrk_version: str, load_avg: float, bare: Run, hook: Run, handwritten: Run | None
) -> None:
    print(
        f"\n{args.connections} connections, {args.threads} wrk threads, {args.duration} s per run "
        f"(+{args.warmup} s warm-up), {args.body_bytes}-byte body, 127.0.0.1, {wrk_version}\n"
        f"{os.cpu_count()} CPUs shared by wrk, the server and redis-server; 1-min load average before start: "
        f"{load_avg:.2f} (other processes' CPU use skews both runs)"
    )
    head = ("req/s", "p50", "p90", "p99", "max", "requests", "server CPU/req", "redis CPU/req")
    print(f"{'':16}{head[0]:>10}" + "".join(f"{h:>11}" for h in head[1:5]) + "".join(f"{h:>15}" for h in head[5:]))
    runs: list[tuple[str, Run]] = [("(a) bare app", bare), ("(b) hookrouter", hook)]
    if handwritten is not None:
        runs.insert(1, ("(h) handwritten", handwritten))
    for name, run in runs:
        r = run.wrk
        print(
            f"{name:16}{r.rps:>10.1f}{_ms(r.p50_us):>11}{_ms(r.p90_us):>11}{_ms(r.p99_us):>11}{_ms(r.max_us):>11}"
            f"{r.requests:>15}{_us(run.cpu_us_per_request('server')):>15}{_us(run.cpu_us_per_request('redis')):>15}"
        )
    for name, run in runs:
        if any(run.wrk.errors.values()):
            print(f"{name} errors: " + ", ".join(f"{k} {v}" for k, v in run.wrk.errors.items() if v))
    if hook.cpu_us_per_request("worker") is not None:
        print(f"(b) worker process CPU/req: {_us(hook.cpu_us_per_request('worker'))}")
    ratio = hook.wrk.rps / bare.wrk.rps if bare.wrk.rps else 0.0
    verdict = "meets" if ratio >= TARGET_RATIO else "below"
    print(f"ratio (b)/(a) req/s: {ratio:.3f} ({verdict} the {TARGET_RATIO} target)")
    if handwritten is not None and bare.wrk.rps and handwritten.wrk.rps:
        print(
            f"ratio (h)/(a) req/s: {handwritten.wrk.rps / bare.wrk.rps:.3f} (the hand-written floor); "
            f"(b)/(h): {hook.wrk.rps / handwritten.wrk.rps:.3f}"
        )
    if bare.cpu_us_per_request("server") and hook.cpu_us_per_request("server"):
        cpu_ratio = (hook.cpu_us_per_request("server") or 0.0) / (bare.cpu_us_per_request("server") or 1.0)
        print(f"server CPU per request (b)/(a): {cpu_ratio:.2f}x (less sensitive to CPU contention than req/s)")


@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so the finally blocks stop every subprocess."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def measure_both(args: argparse.Namespace) -> tuple[Run, Run, Run | None]:
    """(a), (b) and (h) (None with ``--no-handwritten``) as ``args`` asks (see ``parse_args``); BenchError or
    TimeoutExpired when a run goes wrong."""
    wrk = ensure_wrk()
    body = slack_body(args.body_bytes)
    secret = secrets.token_hex(16)
    timestamp = str(int(time.time()))  # valid until timestamp + 300 s: every run below must end before
    with terminate_as_exit(), tempfile.TemporaryDirectory(prefix="hookrouter-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "body").write_bytes(body)
        lua_env = {
            "BENCH_BODY_FILE": str(workdir / "body"),
            "BENCH_SLACK_TIMESTAMP": timestamp,
            "BENCH_SLACK_SIGNATURE": slack_signature(secret, timestamp, body),
        }
        expires_at = int(timestamp) + SLACK_TOLERANCE_S
        load = Load(wrk, args.duration, args.warmup, args.connections, args.threads, lua_env, expires_at, args.verbose)
        with Processes(workdir) as procs:
            print(f"(a) bare Starlette app, {args.duration} s ...", flush=True)
            bare = bench_bare(procs, load, body)
            handwritten = None
            if args.handwritten:
                print(f"(h) hand-written verify + XADD endpoint (own redis-server), {args.duration} s ...", flush=True)
                handwritten = bench_handwritten(procs, load, body, secret, workdir)
            print(f"(b) hookrouter serve (own redis-server), {args.duration} s ...", flush=True)
            hook = bench_hookrouter(procs, load, body, secret, workdir, args.profile, args.separate_workers)
    return bare, hook, handwritten


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        wrk = ensure_wrk()
        wrk_version = subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.split(" [")[0]
        load_avg = os.getloadavg()[0]
        bare, hook, handwritten = measure_both(args)
        report(args, wrk_version, load_avg, bare, hook, handwritten)
    except (BenchError, subprocess.TimeoutExpired) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; subprocesses stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
