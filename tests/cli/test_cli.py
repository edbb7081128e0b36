"""The command line: ``python -m mailcourse demo | serve | bench``.

``serve`` runs as a real process (see `ServeProcess` in conftest.py); the
client is smtplib over the printed endpoint, and the proof of delivery is a
file in the recipient's Maildir. No timing is asserted anywhere.
"""
from __future__ import annotations

import json
import shutil
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailcourse.__main__ import main
from mailcourse.cli.serve import parse_user

CLASSIC_DOMAINS = {"someplace.org", "somewhereelse.com"}


def submit(endpoint: tuple[str, int], login: str, password: str, to: str, subject: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = login, to, subject
    msg.set_content("Sent by tests/cli/test_cli.py\n")
    with smtplib.SMTP(*endpoint, timeout=10) as client:
        client.login(login, password)
        client.send_message(msg)


# -- serve ---------------------------------------------------------------------------------

def test_serve_json_lists_every_endpoint_and_login_then_delivers_and_stops_on_ctrl_c(start_serve, tmp_path):
    lab = start_serve("--workspace", tmp_path, "--user", "ann@example.net:pw1")

    assert set(lab.info["domains"]) == CLASSIC_DOMAINS | {"example.net"}
    ports = []
    for domain, entry in lab.info["domains"].items():
        assert entry["hostname"] == f"mail.{domain}"
        for service in ("submission", "mx"):
            host, port = entry[service]
            assert host == "127.0.0.1" and isinstance(port, int) and port > 0
            ports.append(port)
    assert len(set(ports)) == len(ports)
    # TLS: the implicit-TLS endpoints, the CA to verify them with, and ready command lines.
    for entry in lab.info["domains"].values():
        assert {"submissions", "pop3s", "imaps"} <= set(entry)
    ca = Path(lab.info["ca"])
    assert ca == Path(tmp_path) / "tls" / "ca.pem" and ca.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert lab.info["keylog"] == str(Path(tmp_path) / "tls" / "keylog.txt")
    commands = lab.info["commands"]
    assert commands["swaks STARTTLS"].startswith("swaks --server 127.0.0.1:")
    assert all(lab.info["ca"] in line for line in commands.values())
    users = {u["address"]: u for u in lab.info["users"]}
    assert users["ann@example.net"] == {"address": "ann@example.net", "login": "ann@example.net", "password": "pw1"}
    assert {"joe@someplace.org", "jane@somewhereelse.com"} <= set(users)

    # ann's new server relays to jane's: the endpoint and login printed are the ones that work.
    ann = users["ann@example.net"]
    submit(lab.endpoint("example.net", "submission"), ann["login"], ann["password"],
           "jane@somewhereelse.com", "From the new domain")
    raw = lab.wait_for_message("jane@somewhereelse.com", b"Subject: From the new domain")
    assert raw.startswith(b"Return-Path: <ann@example.net>")
    assert raw.count(b"\nReceived: ") + raw.startswith(b"Received: ") == 2

    status, stderr = lab.stop(signal.SIGINT)
    assert status == 0, stderr
    assert "Traceback" not in stderr


def test_serve_pcap_writes_the_sessions_on_exit(start_serve, tmp_path):
    lab = start_serve("--pcap", tmp_path / "serve.pcapng")
    joe = next(u for u in lab.info["users"] if u["address"] == "joe@someplace.org")
    submit(lab.endpoint("someplace.org", "submission"), joe["login"], joe["password"],
           "jane@somewhereelse.com", "Captured")
    lab.wait_for_message("jane@somewhereelse.com", b"Subject: Captured")
    status, stderr = lab.stop(signal.SIGINT)
    assert status == 0, stderr
    assert sessions_in_capture(tmp_path / "serve.pcapng") == [
        "session 1: client -> mail.someplace.org (SMTP submission)",  # smtplib in this test: not a lab device
        # Sessions 2 and 3: the relay's MX and A queries, over UDP, which a capture leaves out.
        "session 4: mail.someplace.org -> mail.somewhereelse.com (SMTP mx)"]


def test_serve_stops_cleanly_on_sigterm_and_removes_its_temporary_workspace(start_serve):
    lab = start_serve()
    assert lab.workspace.is_dir()
    status, stderr = lab.stop(signal.SIGTERM)
    assert status == 0, stderr
    assert "Traceback" not in stderr
    assert not lab.workspace.exists()


def test_serve_workspace_keeps_mail_between_runs(start_serve, tmp_path):
    first = start_serve("--workspace", tmp_path)
    submit(first.endpoint("someplace.org", "submission"), "joe@someplace.org",
           first.password("joe@someplace.org"), "jane@somewhereelse.com", "First run")
    first.wait_for_message("jane@somewhereelse.com", b"Subject: First run")
    assert first.stop()[0] == 0

    second = start_serve("--workspace", tmp_path)
    assert second.info["domains"]["someplace.org"]["submission"]  # new ports, same mail
    assert any(b"Subject: First run" in raw for raw in second.maildir("jane@somewhereelse.com"))
    submit(second.endpoint("someplace.org", "submission"), "joe@someplace.org",
           second.password("joe@someplace.org"), "jane@somewhereelse.com", "Second run")
    second.wait_for_message("jane@somewhereelse.com", b"Subject: Second run")
    assert second.stop()[0] == 0
    assert len(second.maildir("jane@somewhereelse.com")) == 2


def test_serve_human_output_names_endpoints_logins_and_a_swaks_line():
    proc = subprocess.Popen([sys.executable, "-m", "mailcourse", "serve"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Sessions"):
                break
        proc.send_signal(signal.SIGINT)
        rest, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines)
    assert proc.returncode == 0 and "Traceback" not in stderr
    for needle in ("mail.someplace.org", "mail.somewhereelse.com", "submission", "mx",
                   "joe@someplace.org", "joe-password", "jane-password", "swaks --server 127.0.0.1:",
                   "submissions", "pop3s", "imaps", "--tls-verify --tls-ca-path", "curl --ssl-reqd --cacert",
                   "openssl s_client -starttls smtp", "webmails", "curl --cacert", "/login"):
        assert needle in text
    assert "Stopped." in rest
    assert "--require-tls" not in text  # said only when it is on


def test_serve_help_and_its_output_tell_of_require_tls(capsys):
    from mailcourse.cli.serve import describe

    assert main(["serve", "--help"]) == 0
    assert "--require-tls" in capsys.readouterr().out
    document = {"domains": {"someplace.org": {"hostname": "mail.someplace.org", "submission": ["127.0.0.1", 1]}},
                "users": [{"address": "joe@someplace.org", "login": "joe@someplace.org", "password": "pw"}],
                "workspace": "/tmp/x", "ca": "/tmp/x/tls/ca.pem", "commands": {}, "require_tls": True}
    assert "--require-tls: every server takes passwords only inside TLS" in describe(document, kept=False)


@pytest.mark.parametrize("value", ["ann", "ann@example.net", "ann@example.net:", "@example.net:pw",
                                   "ann@nodot:pw", "../x@example.net:pw"])
def test_serve_refuses_a_bad_user_in_one_line_with_status_2(value, capsys):
    assert main(["serve", "--user", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ADDRESS:PASSWORD" in err and "--user" in err


def test_parse_user_keeps_colons_in_the_password():
    assert parse_user("Ann@Example.NET:a:b") == ("ann@example.net", "a:b")


# -- demo ----------------------------------------------------------------------------------

def test_demo_prints_both_hops_and_the_delivered_message(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    # smtplib sends the verb in lower case ("mail FROM:"); SMTP verbs are case-insensitive.
    assert "MAIL FROM:<JOE@SOMEPLACE.ORG>" in out.upper()
    assert "S: 354 " in out
    assert "Hop 1 of 2: joe-laptop -> mail.someplace.org" in out
    assert "Hop 2 of 2: mail.someplace.org -> mail.somewhereelse.com" in out
    stored = out[out.index("\nReturn-Path: <joe@someplace.org>"):]
    assert stored.count("\nReceived: ") == 2
    assert "AUTH PLAIN ********" in out and "joe-password" not in out


def test_demo_tls_prints_each_hop_encrypted_then_inside_tls(capsys):
    assert main(["demo", "--tls", "--max-body-lines", "2"]) == 0
    out = capsys.readouterr().out
    assert "Hop 1 of 3: joe-laptop -> mail.someplace.org" in out and "Hop 3 of 3: jane-laptop" in out
    wire, inside = out.split("Inside TLS", 1)
    assert "S: 220 Ready to start TLS" in wire and "bytes (encrypted)]" in wire
    assert "MAIL FROM" not in wire.upper()
    assert "MAIL FROM:<JOE@SOMEPLACE.ORG>" in inside.upper() and "joe-password" not in out


def sessions_in_capture(path: Path) -> list[str]:
    """The comment of each connection's first packet: "session 1: joe-laptop -> ...; the lab's port N"."""
    from mailcourse import pcapng

    return [p.comment.split(";")[0] for p in pcapng.read(path.read_bytes()).packets if p.comment]


def test_demo_pcap_writes_both_hops_as_a_capture(capsys, tmp_path):
    assert main(["demo", "--pcap", str(tmp_path / "demo.pcapng")]) == 0
    assert f"Wrote {tmp_path / 'demo.pcapng'}: 2 TCP connections" in capsys.readouterr().out
    assert sessions_in_capture(tmp_path / "demo.pcapng") == [
        "session 1: joe-laptop -> mail.someplace.org (SMTP submission)",
        "session 2: mail.someplace.org -> mail.somewhereelse.com (SMTP mx)"]


# -- bench ---------------------------------------------------------------------------------

def test_bench_json_last_line_has_every_measurement(capsys):
    assert main(["bench", "--json", "--repeats", "1", "--messages", "20", "--skip-course",
                 "--skip-serve-memory", "--classroom", "0"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    for key in ("lab_start_ms", "e2e_latency_ms", "e2e_msgs_per_s", "sink_msgs_per_s",
                "ratio_e2e_vs_sink", "repeats", "messages", "rss_mb"):
        assert isinstance(result[key], (int, float)) and result[key] > 0, key
    assert result["repeats"] == 1 and result["messages"] == 20
    if sys.platform.startswith("linux"):  # the peer check's cost, with thousands of sockets about
        assert result["peer_sockets"] >= 1000 and result["peer_diag_crowded_us"] > 0
    assert result["course"] is None and result["serve_memory"] is None
    assert not any(key.startswith("classroom") for key in result)


def test_bench_memory_figures_read_a_kernel_and_a_capped_lab():
    from mailcourse.cli import bench

    bare = bench.lesson_kernel_peak(None)  # a real kernel, as Jupyter starts it
    assert bare["peak_mb"] >= bare["end_mb"] > 10 and bare["errors"] == 0
    served = bench.serve_memory(messages=40, step=20, per_session=10)
    assert [sent for sent, _ in served["readings"]] == [0, 20, 40] and served["warm_after"] == 20
    assert all(rss > 10 for _, rss in served["readings"])
    text = bench.format_memory({"bare_kernel_mb": 50.0, "max_mb": 110.0, "max_mb_decimal": 115.3,
                                "lessons": {"00_start_here": {"peak_mb": 110.0, "end_mb": 100.0,
                                                              "pss_mb": 80.0, "errors": 0}}}, served)
    assert "00_start_here" in text and "meets the goal" in text and "40 messages" in text


def test_bench_classroom_figure_starts_real_kernels_and_reports_failures_time_and_memory(capsys):
    assert main(["bench", "--json", "--only", "classroom", "--classroom", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert "lab_start_ms" not in result  # --only classroom: the lab figure is not measured
    assert result["classroom_kernels"] == 2 and result["classroom_plain_kernels"] == 1
    assert result["classroom_failures"] == 0 and result["classroom_errors"] == []
    assert result["classroom_wall_s"] > 0 and result["classroom_alone_s"] > 0
    assert result["classroom_wait_max_s"] >= result["classroom_wait_median_s"] > 0
    if Path("/proc/self/status").exists():
        assert result["classroom_rss_max_mb"] >= result["classroom_rss_median_mb"] > 10
    assert any("2 lab kernels + 1 plain at once: failures" in line and "0 of 3" in line for line in out)


def test_bench_refuses_a_negative_classroom_and_an_unknown_figure(capsys):
    assert main(["bench", "--classroom", "-1"]) == 2
    assert main(["bench", "--only", "nothing"]) == 2


# -- the entry points ----------------------------------------------------------------------

def test_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("demo", "serve", "bench"))


def test_console_script_runs():
    script = shutil.which("mailcourse", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the mailcourse console script is not installed (pip install -e .)")
    done = subprocess.run([script, "serve", "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "--workspace" in done.stdout
