"""How fast is the lab on this machine? (``python -m mailcourse bench``)

The main numbers, each the median over several runs:

* **lab start**: building `Lab.classic()` (two servers, four listening
  sockets, a loop thread).
* **end-to-end latency**: one smtplib session to joe's submission endpoint,
  one message for jane; the clock stops when the message is in jane's Maildir.
  That is the whole journey: submission, queue (on disk, fsynced), relay to
  the MX of somewhereelse.com, delivery (on disk, fsynced).
* **end-to-end throughput**: ``messages`` messages in one smtplib session, the
  clock stopped when the last of them is in jane's Maildir.
* **sink throughput**: the same messages, the same client code, to a bare
  aiosmtpd server whose ``handle_DATA`` just answers 250. This is the speed
  of aiosmtpd and smtplib alone on this machine: the yardstick.

The ratio of the two throughputs says what the lab's own work costs (two
SMTP hops instead of one, taps, the trace, fsyncs). The goal is a ratio of
at least `GOAL_RATIO`. Also reported: how long stopping a lab takes, the
peak memory of the process, and how long one durable (fsynced) file write
takes where the labs keep their files, since the lab makes several for each
message it accepts, and what the peer check costs each accepted connection
with thousands of sockets on the machine (`mailcourse.cli.bench_peers`).

Two memory figures follow (``--skip-course``, ``--skip-serve-memory`` leave
them out, about a minute each):

* **course**: each lesson of notebooks/ run in a kernel of its own, as
  JupyterLab runs it, and that kernel's peak resident size (VmHWM), next to
  a bare kernel's; the goal is `COURSE_GOAL_MB` for every lesson.
* **serve memory**: the resident size of a lab capped as ``serve`` caps its
  trace, read after every 1,000 of `SERVE_MESSAGES` messages; the goal is
  growth within `SERVE_GOAL_MB`.

Everything else runs in this process, on 127.0.0.1, with ephemeral ports.
The classroom figure (many real Jupyter kernels started at once, each with
labs) is measured by `mailcourse.cli.classroom`.
"""
from __future__ import annotations

import asyncio
import email.policy
import email.utils
import os
import platform
import shutil
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Callable, Iterator

from aiosmtpd.smtp import SMTP

from ..lab import CLASSIC_USERS, Lab
from . import bench_peers

GOAL_RATIO = 0.40
SENDER = "joe@someplace.org"
RECIPIENT = "jane@somewhereelse.com"


def sample_messages(count: int, tag: str = "bench") -> list[bytes]:
    """``count`` small, realistic messages from joe to jane, each with its own Message-ID."""
    out = []
    for i in range(count):
        msg = EmailMessage()
        msg["From"] = SENDER
        msg["To"] = RECIPIENT
        msg["Subject"] = f"Benchmark message {i + 1} of {count}"
        msg["Date"] = email.utils.formatdate()
        msg["Message-ID"] = f"<{tag}.{i + 1}@someplace.org>"
        msg.set_content("Lunch tomorrow? The usual place, at noon.\n" * 8)
        out.append(msg.as_bytes(policy=email.policy.SMTP))
    return out


def submit(address: tuple[str, int], messages: list[bytes],
           login: tuple[str, str] | None = None) -> None:
    """One smtplib session: EHLO, AUTH if ``login`` is given, one transaction per message.

    Both measurements use this very function, so that the client costs the
    same on both sides of the ratio.
    """
    with smtplib.SMTP(*address, local_hostname="bench-client", timeout=30) as client:
        client.ehlo()
        if login is not None:
            client.login(*login)
        for raw in messages:
            client.sendmail(SENDER, [RECIPIENT], raw)


def submit_concurrently(address: tuple[str, int], messages: list[bytes], clients: int,
                        login: tuple[str, str] | None = None) -> None:
    """``clients`` smtplib sessions at once, each sending its share of ``messages``.

    A mail server is rarely talked to by one client at a time; with several,
    one session's wait for the disk overlaps another's protocol work.
    """
    shares = [messages[i::clients] for i in range(clients)]
    errors: list[BaseException] = []

    def one(share: list[bytes]) -> None:
        try:
            submit(address, share, login)
        except BaseException as e:  # reported below, on the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=one, args=(share,)) for share in shares if share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


class _Arrivals:
    """Counts messages delivered into one account, with an event at a target count.

    The store calls ``__call__`` from the delivering thread right after a
    message is on disk: no polling, so no polling delay in the numbers.
    """

    def __init__(self, account: str) -> None:
        self.account = account
        self.count = 0
        self.target = 0
        self.done = threading.Event()
        self._lock = threading.Lock()

    def expect(self, more: int) -> None:
        with self._lock:
            self.target = self.count + more
            self.done.clear()

    def __call__(self, account: str, folder: str) -> None:
        if account != self.account:
            return
        with self._lock:
            self.count += 1
            if self.count >= self.target:
                self.done.set()


class _SinkHandler:
    """aiosmtpd handler that accepts everything and keeps nothing."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@contextmanager
def sink_server() -> Iterator[tuple[str, int]]:
    """A bare aiosmtpd `SMTP` on its own loop thread, as the lab hosts its servers."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="mailcourse-bench-sink", daemon=True)
    thread.start()

    async def start() -> asyncio.Server:
        return await loop.create_server(
            lambda: SMTP(_SinkHandler(), hostname="sink", ident="sink"), "127.0.0.1", 0)

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield server.sockets[0].getsockname()[:2]
    finally:
        async def stop() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _ms(seconds: float) -> float:
    return seconds * 1000


def peak_rss_mb() -> float:
    """Peak resident memory of this process (``ru_maxrss`` is KiB on Linux, bytes on macOS).

    0.0 where the `resource` module does not exist (Windows).
    """
    try:
        import resource
    except ImportError:
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def durable_write_ms(folder: Path, count: int = 20) -> float:
    """Median time to create, write, fsync and rename a 1 KB file, then fsync its folder.

    That is how the lab stores every message it accepts (queue file, Maildir
    file): the cost of "250 means it is on disk". On some virtual machines
    creating a file alone takes a millisecond; this number shows it.
    """
    times = []
    for i in range(count):
        t0 = time.perf_counter()
        tmp, final = folder / f"probe{i}.tmp", folder / f"probe{i}"
        with open(tmp, "wb") as f:
            f.write(b"x" * 1024)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        times.append(time.perf_counter() - t0)
        final.unlink()
    return _ms(statistics.median(times))


def one_run(messages: int, latency_samples: int, workspace: Path, clients: int = 4,
            timeout: float = 60.0) -> dict[str, float]:
    """One repeat: start a lab in ``workspace``, measure latency and throughput, stop; then the sink."""
    login = (SENDER, CLASSIC_USERS[SENDER])
    batch = sample_messages(messages, tag=f"bench{time.monotonic_ns()}")
    again = sample_messages(messages, tag=f"again{time.monotonic_ns()}")
    singles = sample_messages(latency_samples, tag=f"latency{time.monotonic_ns()}")
    t0 = time.perf_counter()
    lab = Lab.classic(workspace=workspace)
    start = time.perf_counter() - t0
    try:
        arrivals = _Arrivals("jane")
        lab.server("somewhereelse.com").store.subscribe(arrivals)
        address = lab.server("someplace.org").submission.address

        latencies = []
        for raw in singles:
            arrivals.expect(1)
            t0 = time.perf_counter()
            submit(address, [raw], login)
            if not arrivals.done.wait(timeout):
                raise RuntimeError("a message did not reach jane's inbox in time")
            latencies.append(time.perf_counter() - t0)

        arrivals.expect(messages)
        t0 = time.perf_counter()
        submit(address, batch, login)
        if not arrivals.done.wait(timeout):
            raise RuntimeError(f"only {arrivals.count} messages reached jane's inbox in time")
        e2e = time.perf_counter() - t0

        arrivals.expect(messages)
        t0 = time.perf_counter()
        submit_concurrently(address, again, clients, login)
        if not arrivals.done.wait(timeout):
            raise RuntimeError(f"only {arrivals.count} messages reached jane's inbox in time")
        e2e_concurrent = time.perf_counter() - t0

        reading = measure_reading(lab)
    finally:
        t0 = time.perf_counter()
        lab.stop()
        stop = time.perf_counter() - t0

    with sink_server() as sink:
        t0 = time.perf_counter()
        submit(sink, batch)
        sink_time = time.perf_counter() - t0
        t0 = time.perf_counter()
        submit_concurrently(sink, again, clients)
        sink_concurrent = time.perf_counter() - t0

    return {
        "lab_start_ms": _ms(start),
        "lab_stop_ms": _ms(stop),
        "e2e_latency_ms": _ms(statistics.median(latencies)),
        "e2e_msgs_per_s": messages / e2e,
        "sink_msgs_per_s": messages / sink_time,
        "e2e_concurrent_msgs_per_s": messages / e2e_concurrent,
        "sink_concurrent_msgs_per_s": messages / sink_concurrent,
        **reading,
    }


def measure_reading(lab: Lab) -> dict[str, float]:
    """Reading jane's inbox (everything the throughput runs delivered): IMAP against the files themselves.

    * **IMAP fetch**: one imaplib session, ``UID FETCH 1:* (BODY.PEEK[])``,
      every message as a literal.
    * **direct read**: the same messages read from the Maildir files, as
      direct server access does; the yardstick for the fetch.
    * **first sync / unchanged sync**: a new device's `IMAPMailbox.sync`
      (download everything into its cache), then a second sync with nothing
      new, which CONDSTORE's HIGHESTMODSEQ cuts down to one EXAMINE a folder.
    """
    server = lab.server(RECIPIENT.rpartition("@")[2])
    count = len(server.store.list("jane"))
    t0 = time.perf_counter()
    for info in server.store.list("jane"):
        info.path.read_bytes()
    direct = time.perf_counter() - t0

    client = lab.imap("bench-reader", server.endpoints["imap"], timeout=60)
    t0 = time.perf_counter()
    client.login(RECIPIENT, CLASSIC_USERS[RECIPIENT])
    client.select("INBOX", readonly=True)
    status, data = client.uid("FETCH", "1:*", "(BODY.PEEK[])")
    fetch = time.perf_counter() - t0
    client.logout()
    if status != "OK" or sum(isinstance(item, tuple) for item in data) != count:
        raise RuntimeError("the IMAP fetch did not return every message")

    device = lab.add_client(RECIPIENT, f"bench-device-{time.monotonic_ns()}")
    t0 = time.perf_counter()
    device.imap.sync()
    first_sync = time.perf_counter() - t0
    t0 = time.perf_counter()
    device.imap.sync()
    unchanged_sync = time.perf_counter() - t0
    return {
        "imap_fetch_msgs_per_s": count / fetch,
        "direct_read_msgs_per_s": count / direct,
        "imap_first_sync_ms": _ms(first_sync),
        "imap_unchanged_sync_ms": _ms(unchanged_sync),
    }


def run(repeats: int = 5, messages: int = 200, latency_samples: int = 5, tmpdir: str | None = None,
        clients: int = 4,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure ``repeats`` times and return the medians (the keys of ``bench --json``).

    Each run gets a fresh lab in a fresh folder under ``tmpdir`` (the system's
    temporary folder by default; try a RAM disk such as /dev/shm to see how
    much of the time is the disk's).
    """
    if repeats < 1 or messages < 1 or latency_samples < 1:
        raise ValueError("repeats, messages and latency samples must be at least 1")
    runs = []
    parent = Path(tempfile.mkdtemp(prefix="mailcourse-bench-", dir=tmpdir))
    try:
        disk = durable_write_ms(parent)
        for i in range(repeats):
            if progress is not None:
                progress(f"run {i + 1} of {repeats} ...")
            workspace = parent / f"run{i + 1}"
            runs.append(one_run(messages, latency_samples, workspace, clients))
            shutil.rmtree(workspace, ignore_errors=True)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    result: dict[str, Any] = {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
    result["ratio_e2e_vs_sink"] = round(result["e2e_msgs_per_s"] / result["sink_msgs_per_s"], 3)
    result["ratio_concurrent"] = round(result["e2e_concurrent_msgs_per_s"] / result["sink_concurrent_msgs_per_s"], 3)
    result["ratio_imap_vs_direct"] = round(result["imap_fetch_msgs_per_s"] / result["direct_read_msgs_per_s"], 3)
    result["clients"] = clients
    result["goal_ratio"] = GOAL_RATIO
    result["durable_write_ms"] = round(disk, 3)
    result.update(bench_peers.measure())
    result["repeats"] = repeats
    result["messages"] = messages
    result["latency_samples"] = latency_samples
    result["rss_mb"] = round(peak_rss_mb(), 1)
    result["python"] = platform.python_version()
    result["platform"] = platform.platform(terse=True)
    result["tmpdir"] = str(parent.parent)
    return result


def format_table(result: dict[str, Any]) -> str:
    """The result for humans, one measurement a line, and what the ratio means."""
    ratio = result["ratio_e2e_vs_sink"]
    verdict = "meets the goal" if ratio >= GOAL_RATIO else "below the goal"
    rows = [
        ("lab start (Lab.classic())", f"{result['lab_start_ms']:.1f} ms"),
        ("lab stop", f"{result['lab_stop_ms']:.1f} ms"),
        ("latency, submission -> relay -> inbox", f"{result['e2e_latency_ms']:.1f} ms"),
        ("throughput, submission -> relay -> inbox", f"{result['e2e_msgs_per_s']:.0f} messages/s"),
        ("throughput, bare aiosmtpd sink", f"{result['sink_msgs_per_s']:.0f} messages/s"),
        ("ratio lab / sink", f"{ratio:.2f}  (goal: >= {GOAL_RATIO:.2f}, {verdict})"),
        (f"throughput, {result['clients']} sessions at once, lab",
         f"{result['e2e_concurrent_msgs_per_s']:.0f} messages/s"),
        (f"throughput, {result['clients']} sessions at once, sink",
         f"{result['sink_concurrent_msgs_per_s']:.0f} messages/s"),
        ("ratio lab / sink, sessions at once", f"{result['ratio_concurrent']:.2f}"),
        ("reading the inbox, IMAP UID FETCH (BODY.PEEK[])", f"{result['imap_fetch_msgs_per_s']:.0f} messages/s"),
        ("reading the inbox, the Maildir files directly", f"{result['direct_read_msgs_per_s']:.0f} messages/s"),
        ("ratio IMAP / direct", f"{result['ratio_imap_vs_direct']:.2f}"),
        (f"IMAP sync of a new device ({result['messages'] * 2 + result['latency_samples']} messages)",
         f"{result['imap_first_sync_ms']:.0f} ms"),
        ("IMAP sync with nothing new (CONDSTORE)", f"{result['imap_unchanged_sync_ms']:.1f} ms"),
        ("one durable file write (fsync)", f"{result['durable_write_ms']:.2f} ms  in {result['tmpdir']}"),
        *bench_peers.rows(result),
        ("peak memory (RSS)", f"{result['rss_mb']:.1f} MB"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join([
        f"mailcourse bench: medians of {result['repeats']} runs, {result['messages']} messages each,",
        f"Python {result['python']} on {result['platform']}",
        "",
        *(f"  {name:<{width}}  {value}" for name, value in rows),
        "",
        "The lab carries each message twice (submission, then relay to the MX) and writes it",
        "to disk twice (queue, then Maildir), fsynced before each 250; the sink does one hop",
        "and keeps nothing. Both run in this one Python process.",
    ])


# -- memory: a student's kernels, and serve under load ----------------------------------------------
#
# A hub's machine is sized by what each student's kernel holds at its peak. These two figures
# say it: "course" runs every lesson as a student does (each lesson in its own kernel, as
# JupyterLab opens it) and reads each kernel's peak resident size; "serve memory" sends
# thousands of messages through a lab capped as `serve` caps it and reads this size as it goes.

COURSE_GOAL_MB = 120  # a kernel running any lesson, at its peak (10**6 bytes)
SERVE_GOAL_MB = 15  # growth of serve over SERVE_MESSAGES messages
SERVE_MESSAGES = 5000
MIB = 1024 * 1024


def proc_status_mb(pid: int | str = "self") -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (its peak) of a process, in MiB, from /proc (proc(5)).

    Also Pss from smaps_rollup: the process's share of pages it shares with
    others (the libraries of 100 kernels are in memory once). Empty where
    /proc does not exist.
    """
    found: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) / 1024
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    found["Pss"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return found


def lesson_kernel_peak(path: Path | None, timeout: float = 300.0, attempts: int = 3) -> dict[str, float]:
    """Run one lesson (None: nothing, a bare kernel) in a fresh kernel; its peak and final sizes, MiB.

    The kernel is the one Jupyter would start (the ``python3`` kernel spec of
    this environment) and the lesson's folder is its working directory, as
    in JupyterLab. A kernel that dies while starting (another program took
    one of the ports jupyter_client chose for it: issue 12's first point)
    is started again.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4) if path is not None else nbformat.v4.new_notebook()
    folder = str(path.parent) if path is not None else "."
    for attempt in range(attempts):
        client = NotebookClient(nb, kernel_name="python3", timeout=timeout, allow_errors=True,
                                resources={"metadata": {"path": folder}})
        try:
            with client.setup_kernel():
                pid = client.km.provisioner.pid  # type: ignore[union-attr]
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
                sizes = proc_status_mb(pid)
        except RuntimeError:  # "Kernel died before replying to kernel_info"
            if attempt == attempts - 1:
                raise
            continue
        errors = sum(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", ()))
        return {"peak_mb": round(sizes.get("VmHWM", 0.0), 1), "end_mb": round(sizes.get("VmRSS", 0.0), 1),
                "pss_mb": round(sizes.get("Pss", 0.0), 1), "errors": errors}
    raise AssertionError("unreachable")


def course_memory(notebooks: Path | None = None,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every lesson of ``notebooks`` (the course's own by default), each in its own kernel, in order."""
    from .student import NOTEBOOKS

    folder = Path(notebooks or NOTEBOOKS)
    lessons = sorted(folder.glob("[0-9][0-9]*_*.ipynb"))
    if progress is not None:
        progress("course: a bare kernel ...")
    bare = lesson_kernel_peak(None)
    peaks = {}
    for path in lessons:
        if progress is not None:
            progress(f"course: {path.name} ...")
        peaks[path.stem] = lesson_kernel_peak(path)
    worst = max((p["peak_mb"] for p in peaks.values()), default=0.0)
    return {"bare_kernel_mb": bare["peak_mb"], "lessons": peaks, "max_mb": worst,
            "max_mb_decimal": round(worst * MIB / 1e6, 1), "goal_mb": COURSE_GOAL_MB}


def serve_memory(messages: int = SERVE_MESSAGES, step: int = 1000, per_session: int = 10,
                 tmpdir: str | None = None) -> dict[str, Any]:
    """This process's resident size while ``messages`` go through a lab capped as `serve` caps it.

    Best run in a process of its own (``python -m mailcourse bench`` does):
    the figure is the growth from the reading after the first ``step``
    messages, which warmed the lab up. What still grows is the mail itself:
    the store's index of jane's inbox and the queue's log, a few hundred
    bytes a message.
    """
    from .serve import KEPT_SESSIONS

    login = (SENDER, CLASSIC_USERS[SENDER])
    workspace = Path(tempfile.mkdtemp(prefix="mailcourse-bench-serve-", dir=tmpdir))
    readings: list[tuple[int, float]] = []
    try:
        with Lab.classic(workspace=workspace, max_trace_connections=KEPT_SESSIONS) as lab:
            arrivals = _Arrivals("jane")
            lab.server("somewhereelse.com").store.subscribe(arrivals)
            address = lab.server("someplace.org").submission.address
            sent = 0
            while sent <= messages:
                if sent % step == 0:
                    if sent and not arrivals.done.wait(120):
                        raise RuntimeError(f"only {arrivals.count} of {sent} messages reached jane's inbox")
                    readings.append((sent, round(proc_status_mb().get("VmRSS", 0.0), 1)))
                    if sent == messages:
                        break
                    arrivals.expect(step)
                submit(address, sample_messages(per_session, tag=f"serve{sent}"), login)
                sent += per_session
            kept = len(lab.trace.sessions())
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    # The first batch starts the relay and disk threads (each with its own malloc arena) and fills
    # the trace up to its cap: growth is counted from the reading after it.
    warm = readings[1] if len(readings) > 2 else readings[0]
    growth = readings[-1][1] - warm[1]
    after = [rss for sent, rss in readings if sent >= warm[0]]
    return {"readings": readings, "warm_after": warm[0], "growth_mb": round(growth, 1),
            "band_mb": round(max(after) - min(after), 1), "kept_sessions": kept,
            "cap": KEPT_SESSIONS, "goal_mb": SERVE_GOAL_MB}


def serve_memory_in_a_process(messages: int = SERVE_MESSAGES, tmpdir: str | None = None) -> dict[str, Any]:
    """`serve_memory` in a fresh Python, so that nothing this process did before counts."""
    import json
    import subprocess

    code = ("import json, sys\nfrom mailcourse.cli.bench import serve_memory\n"
            f"print(json.dumps(serve_memory({messages!r}, tmpdir={tmpdir!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def format_memory(course: dict[str, Any] | None, serve: dict[str, Any] | None) -> str:
    """The memory figures for humans, in the style of `format_table` (MiB: 1,048,576 bytes)."""
    rows: list[tuple[str, str]] = []
    if course is not None:
        rows.append(("a bare kernel (ipykernel, nothing run)", f"{course['bare_kernel_mb']:.1f} MiB"))
        for name, lesson in course["lessons"].items():
            note = f", {lesson['errors']} cells failed" if lesson["errors"] else ""
            rows.append((f"peak of a kernel running {name}",
                         f"{lesson['peak_mb']:.1f} MiB  (at the end {lesson['end_mb']:.1f}, "
                         f"PSS {lesson['pss_mb']:.1f}{note})"))
        verdict = "meets the goal" if course["max_mb_decimal"] <= COURSE_GOAL_MB else "above the goal"
        rows.append(("largest peak of a lesson's kernel",
                     f"{course['max_mb']:.1f} MiB = {course['max_mb_decimal']:.1f} MB  "
                     f"(goal: <= {COURSE_GOAL_MB} MB, {verdict})"))
    if serve is not None:
        for sent, rss in serve["readings"]:
            rows.append((f"serve-like lab, RSS after {sent:,} messages", f"{rss:.1f} MiB"))
        verdict = "meets the goal" if serve["growth_mb"] * MIB / 1e6 <= SERVE_GOAL_MB else "above the goal"
        rows.append((f"growth from {serve['warm_after']:,} to {serve['readings'][-1][0]:,} messages",
                     f"{serve['growth_mb']:+.1f} MiB  (goal: within {SERVE_GOAL_MB} MB, {verdict}; "
                     f"highest - lowest {serve['band_mb']:.1f} MiB)"))
        rows.append(("sessions the trace kept at the end", f"{serve['kept_sessions']}  (cap {serve['cap']}, "
                     "dropped a quarter of the cap at a time)"))
    if not rows:
        return ""
    width = max(len(name) for name, _ in rows)
    return "\n".join(["mailcourse bench: memory", "", *(f"  {name:<{width}}  {value}" for name, value in rows)])
