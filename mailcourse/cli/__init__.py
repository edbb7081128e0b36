"""The terminal side of the course: what ``python -m mailcourse <command>`` runs.

* `mailcourse.cli.demo`   the four-device journey, printed as transcripts;
* `mailcourse.cli.serve`  the classic lab for real mail programs (swaks, curl,
  Thunderbird...), until Ctrl-C;
* `mailcourse.cli.bench`  start-up, throughput, latency and memory, against baselines
  measured in the same run;
* `mailcourse.cli.classroom` many real Jupyter kernels started at once, each with labs:
  the bench's classroom figure and the test that every kernel starts;
* `mailcourse.cli.student` the student edition of the lessons, solutions removed.

`mailcourse.__main__` holds only the argument parsing; each command is a plain
function here that a test or a notebook can call with ordinary arguments.
"""
from __future__ import annotations
