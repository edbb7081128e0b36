"""A classroom at once: many real Jupyter kernels start while others run labs (issue 12).

On a hub every student has a kernel, and they open their lessons at about
the same moment. jupyter_client starts a kernel by binding five ports to
port 0, closing them, writing the ports into the connection file and
launching the kernel, which binds them again a moment later (jupyter_client's
``LocalProvisioner.pre_launch``; ipykernel's ``_bind_socket`` tries a given
port once). A lab that listened on port 0 in another student's kernel could
be handed one of those ports in between, and the new kernel died before it
ran a cell. `mailcourse.ports` now listens below the ephemeral range;
`run_classroom` is the experiment that shows whether a crowd of kernels all
start:

* ``lab_kernels`` kernels start at once, like students opening a lesson, and
  each runs `LAB_CODE`: it starts several classic labs one after another
  (as a lesson's set-up cell does), sends one message from joe to jane,
  waits for it in jane's inbox and stops the labs;
* while those labs are being started, ``plain_kernels`` more kernels start and
  run ``1+1``: theirs are the ports that a lab listener could take.

Every kernel must answer with its result within ``deadline`` seconds; one
that dies while starting, or says it lost a port, is started again on new
ports, as JupyterLab's restarter does (kernels race each other for ports,
labs or not), and one
that still dies or does not answer is a failure, with the reason (the last line
its process wrote to stderr, e.g. ``Address already in use``). For each
kernel the peak resident memory is read before it is shut down (``VmHWM``
in ``/proc/PID/status``, proc(5)). Every kernel is shut down in the end,
whatever happened, and nothing waits without a timeout.

Used by ``python -m mailcourse bench`` (the classroom figure) and by
tests/test_classroom.py.
"""
from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import queue
import re
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import mailcourse

LABS_EACH = 3  # labs a lab kernel starts one after another, as after re-running a set-up cell
DEADLINE = 120.0  # seconds for a kernel to start and answer: generous, the machine is crowded
SHUTDOWN = 20.0  # seconds for a polite shutdown before the kernel is killed
SEND_TIMEOUT = 10.0  # seconds a message to a kernel may wait to be sent (normally none)
RESTARTS = 5  # starts again of a kernel that died starting: JupyterLab's restart_limit

# What a student's kernel does: the lesson's set-up cell, a few times, and one message.
# The result names every port the labs listened on, so a caller can check where they were.
LAB_CODE = """\
from mailcourse import Lab
labs = []
try:
    for seed in range({labs}):
        labs.append(Lab.classic(seed=seed, retry_intervals=(1,), queue_lifetime=20))
    laptop = labs[-1].client("joe-laptop")
    laptop.compose("jane@somewhereelse.com", "Hello from the classroom", "Hi Jane,\\nwe all started.\\nJoe")
    sent = [r.reply.split(":")[0] for r in laptop.send_all()]
    delivered = labs[-1].wait_for(lambda: len(labs[-1].server("somewhereelse.com").mailbox("jane")) == 1, 60)
    classroom_result = {{
        "labs": len(labs), "sent": sent, "delivered": delivered,
        "ports": sorted(e.port for lab in labs for s in lab.servers.values() for e in s.endpoints.values()),
    }}
finally:
    for lab in labs:
        lab.stop()
"""
PLAIN_CODE = "classroom_result = 1 + 1"


@dataclass
class KernelOutcome:
    """One kernel of the classroom: what it answered, or why it failed."""

    role: str  # "lab" or "plain"
    result: Any = None  # the kernel's ``classroom_result``, evaluated back into Python
    error: str = ""  # empty when the kernel started and answered
    peak_rss_mb: float | None = None  # VmHWM of the kernel process; None where /proc is missing
    seconds: float = 0.0  # from asking for the kernel to its answer
    stderr: str = ""  # what a failed kernel's process wrote to stderr
    died_starting: bool = False  # the process ended (or lost a port and was killed) before kernel_info
    restarts: list[str] = field(default_factory=list)  # why each earlier start died, oldest first

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class Classroom:
    """Every kernel's outcome and the wall time of the whole run."""

    kernels: list[KernelOutcome] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def failures(self) -> list[KernelOutcome]:
        return [k for k in self.kernels if not k.ok]

    @property
    def restarted(self) -> list[KernelOutcome]:
        """The kernels that died starting at least once and were started again (see `run_kernel`)."""
        return [k for k in self.kernels if k.restarts]

    def lab_ports(self) -> set[int]:
        """Every port that the labs of the kernels that answered listened on."""
        return {p for k in self.kernels if k.ok and k.role == "lab" for p in k.result["ports"]}

    def rss_mb(self, role: str = "lab") -> tuple[float, float] | None:
        """(median, max) of the peak RSS of the kernels of ``role``, or None if none was read."""
        peaks = [k.peak_rss_mb for k in self.kernels if k.role == role and k.peak_rss_mb is not None]
        return (statistics.median(peaks), max(peaks)) if peaks else None


STOLEN = re.compile(r"Address already in use \(addr='tcp://[\d.]+:(\d+)'\)")  # ZeroMQ's words


def taken_by_another_program(kernel: KernelOutcome | str, lab_ports: set[int]) -> bool:
    """Whether ``kernel`` (or the reason a start died) lost a port to a program that is not a lab here.

    Other programs bind port 0 too: other kernels as they start (their IOPub
    pipe), a JupyterHub spawning servers, labs of a course from before
    `mailcourse.ports`, test servers. The course cannot keep them out of a
    kernel's way; a port that one of the classroom's labs listens on it can.
    """
    stolen = STOLEN.search(kernel if isinstance(kernel, str) else kernel.error)
    return stolen is not None and int(stolen.group(1)) not in lab_ports


def peak_rss_of(pid: int) -> float | None:
    """The peak resident memory of process ``pid`` in MB: ``VmHWM`` of /proc/PID/status (proc(5)).

    None where there is no /proc (macOS, Windows) or the process is gone.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return None


def kernel_env() -> dict[str, str]:
    """The environment of the kernels: this one, with this very mailcourse first on the path.

    So the kernels run the code under test, even from a work tree that the
    virtual environment's editable install does not point at.
    """
    here = str(Path(mailcourse.__file__).resolve().parent.parent)
    path = [here, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def _context() -> Any:
    """A ZeroMQ context whose sockets never block for long on a send (zmq_setsockopt(3): ZMQ_SNDTIMEO).

    jupyter_client's kernel_info and shutdown requests are sent with a
    blocking send. When a kernel's port belongs to another program, that
    send can wait forever in the event loop's own thread, where no asyncio
    timeout can stop it (seen here once, in a run on a crowded machine): with
    a send timeout it fails, and the kernel counts as a failure.
    """
    import zmq
    import zmq.asyncio

    context = zmq.asyncio.Context()
    context.setsockopt(zmq.SNDTIMEO, int(SEND_TIMEOUT * 1000))
    context.setsockopt(zmq.LINGER, 0)  # closing a socket never waits for unsent messages
    return context


async def run_kernel(role: str, code: str, folder: Path, started: asyncio.Event | None = None,
                     deadline: float = DEADLINE, manager_options: dict[str, Any] | None = None,
                     restarts: int = RESTARTS) -> KernelOutcome:
    """Start one python3 kernel in ``folder``, run ``code``, return its ``classroom_result``.

    ``started`` (if given) is set once the code is sent, i.e. while it runs.
    The kernel's stderr goes to a file in ``folder``: its last line is the
    reason given when the kernel dies. ``manager_options`` go to
    jupyter_client's ``KernelManager`` (a test gives a kernel a port that is
    taken, ``{"iopub_port": port, "cache_ports": False}``).

    A kernel that dies before it answers its first request is started again
    on new ports, up to ``restarts`` times, as JupyterLab does (jupyter_client's
    ``KernelRestarter``: ``restart_limit`` 5, ``random_ports_until_alive``).
    So is one that says it lost a port but lives on, mute (`_ready`): there
    JupyterLab's restarter, which only looks whether the process is alive,
    would leave a student waiting until they restart the kernel themselves.
    Kernels race each other for ports without any lab: every ipykernel binds
    port 0 for its IOPub pipe as it starts (ipykernel's ``_setup_pipe_in``),
    and can take a port chosen a moment before for another kernel. Each
    restart's reason is kept in the outcome's ``restarts``, so a caller can
    tell a port a lab took (a real failure) from that race.
    """
    end = time.monotonic() + deadline
    lost: list[str] = []
    waited = 0.0  # what the student waits for: every start, the dead ones included
    for attempt in range(restarts + 1):
        outcome = await _attempt(role, code, folder / f"start{attempt}" if attempt else folder, started,
                                 max(1.0, end - time.monotonic()), manager_options)
        waited += outcome.seconds
        outcome.restarts, outcome.seconds = lost, waited
        if not outcome.died_starting or attempt == restarts or time.monotonic() >= end:
            break
        lost.append(outcome.error)
    if started is not None:
        started.set()  # a kernel that failed early must not keep the others waiting
    return outcome


async def _attempt(role: str, code: str, folder: Path, started: asyncio.Event | None, deadline: float,
                   manager_options: dict[str, Any] | None) -> KernelOutcome:
    """One start of a kernel and, if it answers, one run of ``code``: `run_kernel` without restarts."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    outcome = KernelOutcome(role)
    folder.mkdir(parents=True, exist_ok=True)
    context = _context()
    manager = AsyncKernelManager(kernel_name="python3", context=context, **(manager_options or {}))
    client = None
    t0 = time.monotonic()
    with open(folder / "kernel.stderr", "w+b") as stderr:
        try:
            await asyncio.wait_for(manager.start_kernel(cwd=str(folder), env=kernel_env(), stderr=stderr),
                                   deadline)
            client = manager.client(context=context)
            client.start_channels()
            left = max(1.0, deadline - (time.monotonic() - t0))
            try:
                await _ready(client, Path(stderr.name), left)
            except PortLost:
                outcome.died_starting = True  # killed below, at once: it would never answer
                raise
            except RuntimeError:  # "Kernel died before replying to kernel_info"
                outcome.died_starting = not await manager.is_alive()
                raise
            request = client.execute(code, silent=True, user_expressions={"result": "classroom_result"})
            if started is not None:
                started.set()
            outcome.result = await _reply(manager, client, request, deadline - (time.monotonic() - t0))
        except (asyncio.TimeoutError, TimeoutError):
            outcome.error = f"no answer in {deadline:.0f} s"
        except zmq.Again:
            outcome.error = f"a message to the kernel could not be sent in {SEND_TIMEOUT:.0f} s"
        except Exception as e:  # whatever stops a kernel from answering is this kernel's failure
            outcome.error = f"{type(e).__name__}: {e}"
        finally:
            outcome.seconds = time.monotonic() - t0
            if manager.has_kernel:
                outcome.peak_rss_mb = peak_rss_of(manager.provisioner.pid)  # type: ignore[union-attr]
            await _shut_down(manager, client, now=outcome.died_starting)
            context.destroy(linger=0)
            if outcome.error:
                stderr.seek(0)
                outcome.stderr = stderr.read().decode(errors="replace")
                outcome.error += _last_words(outcome.stderr)
    return outcome


class PortLost(RuntimeError):
    """A kernel said it could not bind one of its ports (ZeroMQ's "Address already in use")."""


POLL = 0.25  # seconds between two looks at a starting kernel's stderr


async def _ready(client: Any, stderr: Path, timeout: float) -> None:
    """jupyter_client's ``wait_for_ready``, but a kernel that lost a port is given up at once.

    A kernel whose IOPub (or stdin, heartbeat) port another program holds does
    not die: ipykernel logs the ZeroMQ error and lives on without ever
    answering kernel_info, and a client would wait out its whole timeout (on
    a hub: a lesson that never starts). Its stderr says so within a second.
    """
    ready = asyncio.ensure_future(asyncio.wait_for(client.wait_for_ready(timeout=timeout), timeout + 5))
    try:
        while True:
            done, _ = await asyncio.wait({ready}, timeout=POLL)
            if done:
                return ready.result()
            with contextlib.suppress(OSError):
                said = stderr.read_text(errors="replace")
                if STOLEN.search(said):
                    raise PortLost("the kernel could not bind one of its ports")
    finally:
        ready.cancel()


async def _reply(manager: Any, client: Any, request: str, left: float) -> Any:
    """Wait for the execute_reply to ``request``, checking that the kernel is still alive."""
    end = time.monotonic() + max(1.0, left)
    while True:
        if time.monotonic() > end:
            raise TimeoutError
        try:
            msg = await client.get_shell_msg(timeout=1)
        except queue.Empty:
            if not await manager.is_alive():
                raise RuntimeError("the kernel died while running the code") from None
            continue
        if msg["parent_header"].get("msg_id") != request:
            continue
        content = msg["content"]
        if content["status"] != "ok":
            raise RuntimeError(f"{content.get('ename')}: {content.get('evalue')}")
        value = content["user_expressions"]["result"]
        if value.get("status") != "ok":
            raise RuntimeError(f"no result: {value.get('ename')}: {value.get('evalue')}")
        return ast.literal_eval(value["data"]["text/plain"])


async def _shut_down(manager: Any, client: Any, now: bool = False) -> None:
    """Shut the kernel down politely, or (``now``) kill it: one that never started answers nothing."""
    if client is not None:
        client.stop_channels()
    if not manager.has_kernel:
        return
    pid = manager.provisioner.pid
    try:  # a shutdown_request first, as JupyterLab's "Shut Down Kernel"; then SIGKILL
        await asyncio.wait_for(manager.shutdown_kernel(now=now), SHUTDOWN)
    except Exception:  # a kernel that never started answers nothing
        try:
            await asyncio.wait_for(manager.shutdown_kernel(now=True), SHUTDOWN)
        except Exception:
            with contextlib.suppress(OSError):  # gone already
                os.kill(pid, signal.SIGKILL)


def _last_words(stderr: str) -> str:
    """The line of a kernel's stderr that says why it failed: the last error named, else the last line.

    A kernel that could not bind its ports may live on without answering
    (its ZeroMQ context waits at exit); the interrupt of the shutdown then
    comes after the real reason.
    """
    lines = [line.strip() for line in stderr.splitlines()
             if line.strip() and not line.startswith("[IPKernelApp] WARNING")]  # "running over TCP..."
    errors = [line for line in lines if "Error" in line.partition(":")[0]]
    return f" (the kernel said: {(errors or lines)[-1]})" if lines else ""


async def classroom(lab_kernels: int, plain_kernels: int, labs_each: int = LABS_EACH,
                    deadline: float = DEADLINE, lab_code: str = LAB_CODE) -> Classroom:
    """``lab_kernels`` kernels start labs; as soon as they run, ``plain_kernels`` more start.

    ``lab_code`` is formatted with ``labs=labs_each``.
    """
    code = lab_code.format(labs=labs_each)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mailcourse-classroom-") as parent:
        folders = iter(Path(parent) / f"kernel{i}" for i in range(lab_kernels + plain_kernels))
        running = [asyncio.Event() for _ in range(lab_kernels)]
        labs = [asyncio.ensure_future(run_kernel("lab", code, next(folders), event, deadline))
                for event in running]
        try:
            # The other kernels start while the labs are being started: the moment of the race.
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in running)), deadline)
        except (asyncio.TimeoutError, TimeoutError):
            pass  # each kernel keeps its own deadline; the others start all the same
        plain = [asyncio.ensure_future(run_kernel("plain", PLAIN_CODE, next(folders), None, deadline))
                 for _ in range(plain_kernels)]
        kernels = await asyncio.gather(*labs, *plain)
    return Classroom(list(kernels), time.monotonic() - t0)


def run_classroom(lab_kernels: int, plain_kernels: int, labs_each: int = LABS_EACH,
                  deadline: float = DEADLINE, lab_code: str = LAB_CODE) -> Classroom:
    """`classroom` from ordinary code (a test, the bench): its own event loop."""
    if sys.platform == "win32":  # pyzmq's asyncio needs the selector loop there
        asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())  # type: ignore[attr-defined]
    return asyncio.run(classroom(lab_kernels, plain_kernels, labs_each, deadline, lab_code))


# -- the bench's classroom figure ------------------------------------------------------------

def bench_figure(kernels: int, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``kernels`` lab kernels and half as many plain ones at once, against one lab kernel alone.

    The keys of ``bench --json`` that start with ``classroom_``. Times are
    seconds; a kernel's time runs from asking jupyter_client for it to its
    answer (what a student waits for), the wall time until every kernel of
    the run has answered and been shut down.
    """
    if progress is not None:
        progress("classroom: one kernel alone ...")
    alone = run_classroom(1, 0)
    plain = max(1, kernels // 2)
    if progress is not None:
        progress(f"classroom: {kernels} kernels with labs and {plain} more at once ...")
    room = run_classroom(kernels, plain)
    waits = [k.seconds for k in room.kernels if k.role == "lab"]
    lab_rss, plain_rss, alone_rss = room.rss_mb("lab"), room.rss_mb("plain"), alone.rss_mb("lab")
    return {
        "classroom_kernels": kernels,
        "classroom_plain_kernels": plain,
        "classroom_labs_each": LABS_EACH,
        "classroom_failures": len(room.failures),  # of kernels + plain; the lone kernel's in errors
        "classroom_errors": [f"alone: {k.error}" for k in alone.failures] + [
            k.error + (" [that port was not a lab's: another program on this machine took it]"
                       if taken_by_another_program(k, room.lab_ports()) else "") for k in room.failures],
        "classroom_restarts": [k.restarts[-1] + (" [not a lab's port]" if taken_by_another_program(
            k.restarts[-1], room.lab_ports()) else "") for k in room.restarted],
        "classroom_alone_s": round(alone.kernels[0].seconds, 2),
        "classroom_alone_rss_mb": round(alone_rss[1], 1) if alone_rss else None,
        "classroom_wall_s": round(room.wall_s, 2),
        "classroom_wait_median_s": round(statistics.median(waits), 2),
        "classroom_wait_max_s": round(max(waits), 2),
        "classroom_rss_median_mb": round(lab_rss[0], 1) if lab_rss else None,
        "classroom_rss_max_mb": round(lab_rss[1], 1) if lab_rss else None,
        "classroom_plain_rss_mb": round(plain_rss[0], 1) if plain_rss else None,
    }


def _mb(value: float | None) -> str:
    return "not measured here (no /proc)" if value is None else f"{value:.1f} MB"


def format_figure(figure: dict[str, Any]) -> str:
    """The classroom figure for humans, in the bench's table style."""
    n, plain = figure["classroom_kernels"], figure["classroom_plain_kernels"]
    rows = [
        ("one lab kernel alone: start to answer", f"{figure['classroom_alone_s']:.1f} s"),
        ("one lab kernel alone: peak memory (VmHWM)", _mb(figure["classroom_alone_rss_mb"])),
        (f"{n} lab kernels + {plain} plain at once: failures",
         f"{figure['classroom_failures']} of {n + plain}"),
        ("  wall time, until all answered and shut down", f"{figure['classroom_wall_s']:.1f} s"),
        ("  a lab kernel's start to answer, median", f"{figure['classroom_wait_median_s']:.1f} s"),
        ("  a lab kernel's start to answer, slowest", f"{figure['classroom_wait_max_s']:.1f} s"),
        ("  peak memory per lab kernel, median", _mb(figure["classroom_rss_median_mb"])),
        ("  peak memory per lab kernel, largest", _mb(figure["classroom_rss_max_mb"])),
        ("  peak memory per plain kernel (1+1), median", _mb(figure["classroom_plain_rss_mb"])),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join([
        "classroom: real Jupyter kernels (python3, started by jupyter_client as JupyterLab does)",
        "",
        *(f"  {name:<{width}}  {value}" for name, value in rows),
        *(f"  failed: {error}" for error in figure["classroom_errors"]),
        *(f"  died starting and started again on new ports, as JupyterLab does: {error}"
          for error in figure.get("classroom_restarts", [])),
        "",
        f"Each lab kernel starts {figure['classroom_labs_each']} classic labs one after another, sends one message and stops",
        "them; the plain kernels start while those labs start. A kernel that runs the lessons",
        "holds more (figures, widgets): size a machine's memory with the course figure.",
    ])
