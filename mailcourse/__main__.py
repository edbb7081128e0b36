"""``python -m mailcourse <command>``: the lab from a terminal.

    python -m mailcourse demo     the four-device journey, printed hop by hop
    python -m mailcourse serve    the classic lab for real mail programs, until Ctrl-C
    python -m mailcourse bench    how fast the lab is on this machine
    python -m mailcourse student-notebooks DIR    the lessons without their solutions

This module only parses arguments; the work is done by plain functions
(`mailcourse.cli.demo.run_demo`, `mailcourse.cli.serve.serve`,
`mailcourse.cli.bench.run`, `mailcourse.cli.student.write_student_notebooks`) that
notebooks and tests can call too. Each is imported only when its command
runs, so ``--help`` stays quick.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence


class _Parser(argparse.ArgumentParser):
    """argparse, with errors on one line: ``mailcourse serve: error: ...`` and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _user(value: str) -> tuple[str, str]:
    from .cli.serve import parse_user

    try:
        return parse_user(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _seconds_list(value: str) -> tuple[float, ...]:
    try:
        intervals = tuple(float(part) for part in value.split(","))
    except ValueError:
        intervals = ()
    if not intervals or any(i <= 0 for i in intervals):
        raise argparse.ArgumentTypeError(f"{value!r}: expected positive seconds separated by commas, e.g. 1,2,4")
    return intervals


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def convert(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            number = 0
        if number <= 0:
            raise argparse.ArgumentTypeError(f"{value!r}: expected a positive number")
        return number
    return convert


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a whole number, 0 or more")
    return number


# The figures of ``bench --only NAME``: "lab" is start-up, latency, throughput and reading;
# "memory" the course's kernels and serve (with --skip-course, --skip-serve-memory);
# "classroom" many kernels started at once.
FIGURES = ("lab", "memory", "classroom")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mailcourse", description="Internet e-mail on 127.0.0.1, to learn how it works.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run joe -> jane through the four devices and print every hop")
    demo.add_argument("--seed", type=int, default=1, help="makes ids the same on every run (default 1)")
    demo.add_argument("--max-body-lines", type=int, default=None, metavar="N",
                      help="shorten message bodies in the transcripts to N lines")
    demo.add_argument("--pcap", metavar="FILE", default=None,
                      help="also write the journey as a packet capture (pcapng) that Wireshark opens")
    demo.add_argument("--tls", action="store_true",
                      help="the journey over TLS: STARTTLS submission, relay and POP3 (STLS), each hop "
                           "shown encrypted and decrypted with the lab's keys (kept in the --pcap file)")

    serve = commands.add_parser("serve", help="run the classic lab for real mail programs until Ctrl-C",
                                description="Start the classic lab (someplace.org with joe, somewhereelse.com "
                                            "with jane), print every endpoint and login, serve until Ctrl-C.")
    serve.add_argument("--json", action="store_true",
                       help="print one JSON line with every endpoint and login, then serve silently")
    serve.add_argument("--workspace", metavar="DIR", default=None,
                       help="keep servers' mail and queues in DIR between runs (default: a temporary folder)")
    serve.add_argument("--user", type=_user, action="append", default=[], metavar="ADDRESS:PASSWORD",
                       help="add an account (repeatable); a new domain gets its own server")
    serve.add_argument("--retry", type=_seconds_list, default=None, metavar="S,S,...",
                       help="seconds between relay attempts, e.g. 1,2,4,8 (the last one repeats)")
    serve.add_argument("--lifetime", type=_positive(float), default=None, metavar="SECONDS",
                       help="how long a queued message is retried before it bounces (default 600)")
    serve.add_argument("--transcript", action="store_true",
                       help="print the whole transcript of each session, not just one line")
    serve.add_argument("--pcap", metavar="FILE", default=None,
                       help="on exit, write the sessions still kept (the last 200) as a pcapng capture for Wireshark")
    serve.add_argument("--require-tls", action="store_true",
                       help="passwords only inside TLS on every server (STARTTLS first, or the implicit-TLS "
                            "ports; the webmail over https only), and relays between the servers only over TLS")

    serve.add_argument("--no-dns", action="store_true",
                       help="run no DNS server; the relays find each other in the lab's directory")

    bench = commands.add_parser("bench", help="measure start-up, latency, throughput and memory")
    bench.add_argument("--json", action="store_true", help="end with one line of JSON with the results")
    bench.add_argument("--repeats", type=_positive(int), default=5, help="runs to take the median of (default 5)")
    bench.add_argument("--messages", type=_positive(int), default=200,
                       help="messages per throughput run (default 200)")
    bench.add_argument("--clients", type=_positive(int), default=4,
                       help="SMTP sessions at once for the concurrent throughput (default 4)")
    bench.add_argument("--tmpdir", metavar="DIR", default=None,
                       help="where the labs keep their files (e.g. /dev/shm, to leave the disk out)")
    bench.add_argument("--skip-course", action="store_true",
                       help="leave out the peak memory of a kernel running each lesson (about a minute)")
    bench.add_argument("--skip-serve-memory", action="store_true",
                       help="leave out serve's memory over 5,000 messages (about a minute)")
    bench.add_argument("--classroom", type=_count, default=8, metavar="N",
                       help="kernels that start labs at once for the classroom figure, half as many more "
                            "start meanwhile (default 8; 0 leaves the figure out)")
    bench.add_argument("--only", choices=FIGURES, default=None, metavar="NAME",
                       help=f"measure only one figure: {', '.join(FIGURES)}")

    student = commands.add_parser("student-notebooks", help="write the lessons without their solutions into DIR")
    student.add_argument("directory", metavar="DIR", help="where to write the student notebooks")
    student.add_argument("--source", metavar="DIR", default=None,
                         help="the instructor's notebooks (default: the course's notebooks/ folder)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 fine, 1 failed, 2 bad arguments)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already explained on stderr
        return e.code if isinstance(e.code, int) else 2

    if args.command == "demo":
        from .cli.demo import run_demo

        return run_demo(seed=args.seed, max_body_lines=args.max_body_lines, pcap=args.pcap, tls=args.tls)

    if args.command == "serve":
        from .cli.serve import serve
        from .errors import LabError

        try:
            return serve(args.user, args.workspace, as_json=args.json, retry_intervals=args.retry,
                         lifetime=args.lifetime, transcript=args.transcript, pcap=args.pcap,
                         require_tls=args.require_tls, dns=not args.no_dns)
        except (LabError, OSError) as e:
            print(f"mailcourse serve: error: {e}", file=sys.stderr)
            return 1

    if args.command == "bench":
        import json

        from .cli import bench

        def progress(text: str) -> None:
            print(text, file=sys.stderr, flush=True)

        result: dict[str, Any] = {}
        if args.only in (None, "lab"):
            result = bench.run(repeats=args.repeats, messages=args.messages, tmpdir=args.tmpdir,
                               clients=args.clients, progress=progress)
            print(bench.format_table(result))
        if args.only in (None, "memory"):
            course = None if args.skip_course else bench.course_memory(progress=progress)
            if not args.skip_serve_memory:
                progress(f"serve memory: {bench.SERVE_MESSAGES:,} messages ...")
            served = None if args.skip_serve_memory else bench.serve_memory_in_a_process(tmpdir=args.tmpdir)
            if course is not None or served is not None:
                print("\n" + bench.format_memory(course, served))
            result.update({"course": course, "serve_memory": served})
        if args.only in (None, "classroom") and args.classroom:
            from .cli import classroom

            result.update(classroom.bench_figure(args.classroom, progress))
            print(("\n" if args.only is None else "") + classroom.format_figure(result))
        if args.json:
            print(json.dumps(result), flush=True)
        return 0

    if args.command == "student-notebooks":
        from .cli import student

        try:
            written = student.write_student_notebooks(args.directory, args.source or student.NOTEBOOKS)
        except (OSError, ValueError) as e:
            print(f"mailcourse student-notebooks: error: {e}", file=sys.stderr)
            return 1
        for path in written:
            print(path)
        return 0

    raise AssertionError(f"unknown command {args.command!r}")  # argparse refuses it first


if __name__ == "__main__":
    sys.exit(main())
