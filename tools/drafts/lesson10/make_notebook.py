"""Generate notebooks/10_sender_authentication.ipynb (instructor edition, no outputs)."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell as code, new_markdown_cell as md, new_notebook

def tagged(cell, *tags):
    cell.metadata["tags"] = list(tags)
    return cell

cells = [
md("""# 10 · Who really sent this: DNS, SPF, DKIM and DMARC

Ask the lab's DNS where mail goes, forge joe's address and get away with it, then watch three checks the receiving server makes catch the forger, and a changed subject line."""),
tagged(md("nav"), "navigation"),
md("""## What you will see

- The lab's own DNS server answering `dig` and Python: MX, A and TXT records, the same questions a relay asks before it sends.
- The relay's DNS questions in the trace, before its SMTP session, and a DNS failure that makes the queue wait.
- A message from "joe" that joe never wrote, sent by you in five lines of `smtplib`.
- SPF, DKIM and DMARC, the three checks jane's server makes on every message, and their verdicts in one header: `Authentication-Results`.
- A domain that tells the world to refuse its forgeries, and the forger refused."""),
md("""## Set-up

The classic lab with one change: `dns=True` gives it a DNS server, and each mail server its own address on the loopback network (joe's provider at 127.0.0.2, jane's at 127.0.0.3), so that "who connected" means something. Your notebook stays at 127.0.0.1, like the laptops."""),
code("""import smtplib
import shutil
import subprocess

import dns.resolver

from mailcourse import Lab
import mailcourse.exercises as check
from mailcourse.viz import ladder

Lab.stop_all()  # a lab left over from an earlier run of this cell stops here
lab = Lab.classic(seed=10, dns=True)
ours, theirs = lab.server("someplace.org"), lab.server("somewhereelse.com")
joe_laptop = lab.client("joe-laptop")
dns_host, dns_port = lab.dns.address
print("joe's provider:", ours.address, "  jane's provider:", theirs.address)"""),
md("""## Where does mail for a domain go?

Joe writes to `jane@somewhereelse.com`. His provider must find the server that takes mail for `somewhereelse.com`. Every lesson so far looked it up in the lab's directory, a Python dictionary. The Internet asks the Domain Name System: an **MX** record (mail exchanger, RFC 5321 section 5.1) names the domain's mail server, and an **A** record gives that server's address.

`dig` is the tool administrators use to ask DNS a question. Guess the answer before you run it:"""),
code("""def dig(*question):
    \"\"\"Ask the lab's DNS server with dig, as you would in a terminal.\"\"\"
    if shutil.which("dig") is None:
        return print("dig is not installed here; the next cell asks the same with Python")
    command = ["dig", f"@{dns_host}", "-p", str(dns_port), "+noall", "+answer", "+norecurse", *question]
    print(subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip())

dig("MX", "somewhereelse.com")
dig("A", "mail.somewhereelse.com")"""),
md("""Each line is one *resource record*: the name, its time to live in seconds (how long others may remember the answer), the class `IN` (Internet), the type, and the data. `10` is the MX's preference: a domain may list several servers, and the lowest number is tried first.

The same questions from Python, with dnspython, the library the lab's servers use:"""),
code("""resolver = dns.resolver.Resolver(configure=False)  # not this machine's DNS: the lab's
resolver.nameservers, resolver.port = [dns_host], dns_port
for record in resolver.resolve("somewhereelse.com", "MX"):
    print("MX:", record.preference, record.exchange)
print("A: ", [record.address for record in resolver.resolve("mail.somewhereelse.com", "A")])"""),
md("""### Try it: ask DNS yourself

Use `resolver` to find the address of the mail server for `someplace.org`, joe's domain: first its MX record, then the A record of the host the MX names. Put the address in `address`, as text."""),
tagged(code("""address = ...  # the IPv4 address of someplace.org's mail server, from its MX then A record
### BEGIN SOLUTION
exchange = resolver.resolve("someplace.org", "MX")[0].exchange
address = resolver.resolve(exchange, "A")[0].address
### END SOLUTION"""), "exercise"),
tagged(code("""check.found_mail_server(lab, address)"""), "check"),
md("""## The relay asks DNS too

Now joe sends jane a message. His provider's queue asks exactly your questions before it relays, and the tap records them as it records SMTP. Guess how many DNS exchanges come before the SMTP session:"""),
code("""start = lab.trace.mark()
joe_laptop.compose("jane@somewhereelse.com", "Lunch", "Noon at the usual place?\\nJoe")
joe_laptop.send_all()
lab.wait_for_delivery()
relay = lab.trace.sessions(since=start)
for conn in relay:
    print(conn.label)
print(lab.trace.transcript([conn for conn in relay if conn.protocol == "dns"]))"""),
md("""Two questions, each a single UDP datagram and its answer: MX, then A. Then the SMTP session to the address DNS gave. As a ladder:"""),
code("""ladder(lab.trace, [conn for conn in relay if conn.service != "submission"], title="The relay: DNS, then SMTP")"""),
md("""*Figure 1. Ladder diagram of the relay: mail.someplace.org asks the lab's DNS server for the MX of somewhereelse.com and for the A record of mail.somewhereelse.com, then opens its SMTP session to that address.*

### When DNS fails

A DNS server that cannot answer for now says `SERVFAIL`. That is not "no such domain": the relay must not bounce the message, only wait (RFC 5321 section 4.4; Postfix says `4.4.3`). Switch the failure on and guess what joe's provider does:"""),
code("""lab.dns.fail("somewhereelse.com", "servfail")
joe_laptop.compose("jane@somewhereelse.com", "Lunch, again", "Did you get my message?\\nJoe")
joe_laptop.send_all()
lab.wait_for(lambda: any(item.attempts for item in ours.queue.items.values()))
for item in ours.queue.items.values():
    print("waiting:", list(item.last_reply.values()))"""),
md("""The message waits in the queue. DNS comes back; the next attempt finds jane's server:"""),
code("""lab.dns.heal()
ours.queue.flush()  # try again now rather than at the next retry
lab.wait_for_delivery()
print([message["Subject"] for message in theirs.mailbox("jane")])"""),
md("""A domain that does not exist at all (`NXDOMAIN`, "no such name") is an answer, and a final one: the relay bounces at once with `5.1.2`, as it did for a misspelt domain in lesson 05.

## Forging joe

Lesson 03 showed that the envelope and the header are just text the sending program writes. Nothing stops you writing joe's address in both. Straight to jane's MX, the door servers use, which needs no password (it must take mail from the whole Internet):"""),
code("""forged = \"\"\"\\
From: Joe <joe@someplace.org>
To: jane@somewhereelse.com
Subject: Change of bank account

Jane, please pay my invoices to the new account from now on.
Joe
\"\"\"
host, port = lab.endpoint_address(theirs.mx)  # jane's MX: the door for mail from other servers"""),
md("""### Try it: forge joe

With `smtplib.SMTP(host, port)` and its `sendmail(from_addr, to_addrs, msg)`, send `forged` to jane from your notebook, with joe's address in the envelope too (`MAIL FROM`). No login: an MX takes mail from anyone."""),
tagged(code("""start = lab.trace.mark()
# smtplib.SMTP(host, port), then sendmail: envelope from joe, to jane, the text in `forged`
### BEGIN SOLUTION
with smtplib.SMTP(host, port) as smtp:
    smtp.sendmail("joe@someplace.org", ["jane@somewhereelse.com"], forged)
### END SOLUTION"""), "exercise"),
tagged(code("""check.forged_joe(lab, start)"""), "check"),
md("""The server answered 250 and delivered it: jane's mail program shows it like any message from joe. Look closer, though: jane's server checked three things as it received it, and wrote what it found in a header field at the top, `Authentication-Results` (RFC 8601). Here it is for joe's real "Lunch" and for your forgery:"""),
tagged(code("""def verdicts(subject):
    \"\"\"The Authentication-Results jane's server wrote on the message with this subject.\"\"\"
    message = next((m for m in theirs.mailbox("jane") if m["Subject"] == subject), None)
    return "(no such message)" if message is None else " ".join(message["Authentication-Results"].split())

for subject in ["Lunch", "Change of bank account"]:
    print(f"{subject}:\\n    {verdicts(subject)}")"""), "solution-output"),
md("""`mail.somewhereelse.com` says who did the checking. Then three methods, each `name=result` and what it was checked against: **SPF** looked at the envelope, **DKIM** at a signature, **DMARC** at the From: line a person reads. Joe's real message passes all three; yours fails or has nothing to show. One at a time.

## SPF: who may send for a domain

SPF, the Sender Policy Framework (RFC 7208), lets a domain publish in DNS which addresses send its mail. Jane's server asked DNS for the TXT record of the MAIL FROM domain, `someplace.org`:"""),
code("""dig("TXT", "someplace.org")"""),
md("""`v=spf1` marks an SPF record. `ip4:127.0.0.2` allows joe's provider's address; `-all` says "every other address fails" (RFC 7208 section 5.1; `~all` would say "softfail": suspicious, but deliver). Joe's real message came from 127.0.0.2: pass. Your forgery came from 127.0.0.1, your notebook: fail.

SPF checks the envelope only, `MAIL FROM` (and the EHLO name): the address the server sends bounces to, which jane never sees.

### Try it: let a mailing service send for someplace.org

Joe's provider starts sending its newsletter through a mailing service, at 127.0.0.1. Change someplace.org's SPF record so that mail from 127.0.0.1 passes SPF, while mail from joe's provider still passes and every other address still fails. The record is a string, and the lab's DNS serves a new one at once:"""),
tagged(code("""# lab.dns["someplace.org"].spf = "v=spf1 ..."
### BEGIN SOLUTION
lab.dns["someplace.org"].spf = "v=spf1 ip4:127.0.0.2 ip4:127.0.0.1 -all"
### END SOLUTION"""), "exercise"),
tagged(code("""check.spf_allows_the_service(lab)"""), "check"),
md("""The check sent a newsletter from 127.0.0.1 and read jane's `Authentication-Results`, and it asked SPF about another address too: a record that passes everyone (`+all`) would also have made the newsletter pass.

## DKIM: a signature over the message

SPF says nothing about the message itself, and it breaks when mail is forwarded (the forwarder's address is not in the record). DKIM, DomainKeys Identified Mail (RFC 6376), signs the message: joe's provider adds a `DKIM-Signature` header to what its users send, computed with a private key only it has. Joe's "Lunch" as jane received it:"""),
code("""lunch = next(m for m in theirs.mailbox("jane") if m["Subject"] == "Lunch")
for tag in " ".join(lunch["DKIM-Signature"].split()).split("; "):
    print(tag[:72] + ("..." if len(tag) > 72 else ""))"""),
md("""`d=someplace.org` is the signing domain, `s=` the *selector*, which names the key; `h=` lists the header fields that are signed, `bh=` is the hash of the body and `b=` the signature. The public key is in DNS, at `selector._domainkey.domain`, for any receiver to check with:"""),
code("""selector = lunch["DKIM-Signature"].split("s=")[1].split(";")[0].strip()
for record in resolver.resolve(f"{selector}._domainkey.someplace.org", "TXT"):
    text = b"".join(record.strings).decode()
    print(text[:60] + "...")"""),
md("""### Tampering on the way

Someone on the path between the servers changes one header field of joe's next message (`ours.faults.tamper_header`: the lab's relay does it after signing). Guess which of the three results changes:"""),
code("""ours.faults.tamper_header = ("Subject", "Lunch is cancelled")
joe_laptop.compose("jane@somewhereelse.com", "Lunch on Friday", "Friday at noon, then?\\nJoe")
joe_laptop.send_all()
lab.wait_for_delivery()
ours.faults.tamper_header = None
print(verdicts("Lunch is cancelled"))"""),
md("""`dkim=fail`: the signature no longer matches what arrived. SPF still passes, since the message came from joe's provider's address. DMARC passes too, and that is the next section.

## DMARC: tying the checks to the From: line

Look back at what SPF and DKIM check: the envelope's domain, and the `d=` of a signature. Neither is the From: line jane reads. A forger can own a domain of his own, publish SPF for his own address, and still write `From: joe@someplace.org`: SPF passes, for the wrong domain. That is lesson 03's envelope versus content, used as a weapon.

DMARC (RFC 7489) closes the gap. A message passes DMARC when SPF or DKIM passes **for a domain aligned with the From: domain** (the same domain, or one of its subdomains); one aligned pass is enough. And the From: domain publishes, at `_dmarc.domain`, what receivers should do with mail that fails:"""),
code("""dig("TXT", "_dmarc.someplace.org")"""),
md("""`p=none`: "check, but deliver anyway", the policy with which every domain starts. `p=quarantine` asks for the Junk folder, `p=reject` for a refusal in the SMTP session.

A forger sets up his own domain, `forger.example`, with an SPF record allowing your notebook's address:"""),
code("""lab.dns.add_zone("forger.example", spf="v=spf1 ip4:127.0.0.1 -all", dmarc=None)
dig("TXT", "forger.example")"""),
md("""### Try it: predict the verdicts

Three messages are about to reach jane's server. For each, predict what `Authentication-Results` will say for `spf`, `dkim` and `dmarc`: one of `"pass"`, `"fail"` or `"none"` (none: nothing to check, such as no signature or no record).

- **A**: joe sends through his provider, and the Subject is changed on the way, as above.
- **B**: the forger sends from your notebook with `MAIL FROM:<news@forger.example>` and `From: news@forger.example`. forger.example publishes no DMARC record.
- **C**: the forger sends from your notebook with `MAIL FROM:<news@forger.example>`, but `From: joe@someplace.org`.

The check sends the three messages and compares."""),
tagged(code("""predictions = {
    "A": {"spf": ..., "dkim": ..., "dmarc": ...},
    "B": {"spf": ..., "dkim": ..., "dmarc": ...},
    "C": {"spf": ..., "dkim": ..., "dmarc": ...},
}
### BEGIN SOLUTION
predictions = {
    "A": {"spf": "pass", "dkim": "fail", "dmarc": "pass"},
    "B": {"spf": "pass", "dkim": "none", "dmarc": "none"},
    "C": {"spf": "pass", "dkim": "none", "dmarc": "fail"},
}
### END SOLUTION"""), "exercise"),
tagged(code("""check.predicted_verdicts(lab, predictions)"""), "check"),
md("""What jane's server wrote for the three:"""),
tagged(code("""for subject in ["Prediction A", "Prediction B", "Prediction C"]:
    print(f"{subject}:\\n    {verdicts(subject)}")"""), "solution-output"),
md("""## Acting on DMARC: quarantine and reject

So far jane's server only wrote down what it found; `p=none` asked for nothing more. Joe's provider has seen enough forgeries and publishes a stricter policy. First quarantine; guess where the forgery lands:"""),
code("""lab.dns["someplace.org"].dmarc = "v=DMARC1; p=quarantine"
with smtplib.SMTP(*lab.endpoint_address(theirs.mx)) as smtp:
    smtp.sendmail("joe@someplace.org", ["jane@somewhereelse.com"],
                  forged.replace("Change of bank account", "Urgent: new bank account"))
print("INBOX:", [m["Subject"] for m in theirs.mailbox("jane")][-1:])
print("Junk: ", [m["Subject"] for m in theirs.mailbox("jane", folder="Junk")])"""),
md("""Delivered, but into `Junk`, the folder mail programs show as "Spam". Now reject:"""),
code("""lab.dns["someplace.org"].dmarc = "v=DMARC1; p=reject"
try:
    with smtplib.SMTP(*lab.endpoint_address(theirs.mx)) as smtp:
        smtp.sendmail("joe@someplace.org", ["jane@somewhereelse.com"],
                      forged.replace("Change of bank account", "Final notice: new bank account"))
except smtplib.SMTPDataError as error:
    print(error.smtp_code, error.smtp_error.decode())"""),
md("""`550 5.7.1`, at the end of DATA: the server refuses the message while the forger is still connected, so nobody has to bounce anything. And joe's real mail? It passes DMARC, so the policy does not touch it:"""),
code("""joe_laptop.compose("jane@somewhereelse.com", "Still me", "This one is really from me.\\nJoe")
joe_laptop.send_all()
lab.wait_for_delivery()
print(verdicts("Still me"))"""),
md("""That is why large providers (Gmail and Yahoo since 2024) ask every domain that sends them much mail to publish SPF, DKIM and a DMARC record: a domain with `p=reject` cannot be forged in the From: line to a receiver that checks.

What DMARC does not stop: a look-alike domain (`someplace-org.example`), or a display name that says "Joe" over someone else's address. Those pass every check, for their own domain; only the reader can notice them.

## Check yourself

Choose an answer (or type one) and press **Check**: you learn at once whether it is right, and why. Your choices come in an order of your own, so ask a neighbour why, not which. Reading a copy without a running notebook? Each answer is folded away under its question."""),
tagged(code('check.quiz("10")'), "nbval-ignore-output", "quiz"),
md("""## Summary

- DNS turns a domain into its mail server: an MX record names it, an A record gives its address; the relay asks both before each attempt, and a DNS failure (SERVFAIL) makes it wait, not bounce.
- The envelope and the From: line are text anyone can write: forging joe takes five lines of `smtplib`.
- SPF: the MAIL FROM domain lists in DNS the addresses that send for it; the receiver compares the connecting address.
- DKIM: the sending server signs the body and chosen header fields; the receiver checks with the public key in DNS. A change on the way fails it.
- DMARC: SPF or DKIM must pass for the domain in From:, and the domain's policy says what to do otherwise: none, quarantine (Junk), reject (550 5.7.1). All three verdicts are in `Authentication-Results`.

### Glossary

- **DNS, resource record, TTL**: the Internet's distributed directory; one typed entry of it; how long it may be cached (RFC 1034, RFC 1035).
- **MX record**: the mail servers of a domain, with preferences; without one, the domain's A record is the *implicit MX* (RFC 5321, section 5.1).
- **SERVFAIL, NXDOMAIN**: "cannot answer for now" and "no such name" (RFC 1035, section 4.1.1).
- **SPF**: Sender Policy Framework, the addresses allowed to send for a MAIL FROM domain (RFC 7208); results pass, fail, softfail, neutral, none, temperror, permerror (section 2.6).
- **DKIM**: DomainKeys Identified Mail, a signature by a domain over a message (RFC 6376); **selector**, the name of the key under `_domainkey`.
- **DMARC**: Domain-based Message Authentication, Reporting and Conformance (RFC 7489): alignment with the From: domain and a policy, `p=none`, `quarantine` or `reject`.
- **Alignment**: the SPF or DKIM domain is the From: domain, or (relaxed) shares its organizational domain (RFC 7489, section 3.1).
- **Authentication-Results**: the receiving server's record of its checks (RFC 8601).

## Going further

`python -m mailcourse serve` runs the same DNS server; `serve --json` prints its address under `"dns"` and a ready `dig` line. Ask it for `TXT _dmarc.someplace.org`, then send a forgery with swaks (`swaks --server HOST:PORT --from joe@someplace.org --to jane@somewhereelse.com`) and read the `Authentication-Results` of what arrives. A real mailbox shows the same: in Gmail, *Show original* on any message lists its SPF, DKIM and DMARC results."""),
tagged(md("nav"), "navigation"),
]
nb = new_notebook(cells=cells, metadata={'kernelspec': {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'}, 'language_info': {'name': 'python'}})
nbformat.write(nb, Path(__file__).resolve().parents[3] / "notebooks" / "10_sender_authentication.ipynb")
print(len(cells), "cells")
