"""The lab's clients: the standard library's, on behalf of one lab device.

* `mailcourse.clients.smtp`      smtplib, labelled with the device's name;
* `mailcourse.clients.pop3`      poplib, and the offline model's download (UIDL, RETR, DELE);
* `mailcourse.clients.imap`      imaplib, tagging A001, A002... as RFC 3501's examples;
* `mailcourse.clients.imapsync`  the disconnected model: a device's cache, journal and sync;
* `mailcourse.clients.browser`   the kernel-side browser of the webmail (http.client).

None of them re-implements a protocol: every command and reply on the wire
is the standard library's own.
"""
