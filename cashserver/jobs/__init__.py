"""Scheduled housekeeping (SPEC 13), one module a job, each a plain function that
takes what it works on and returns what it did, so the daemon's scheduler, the
``cashserver archive | trim | trim-dicts`` commands and a cluster-wide lease can
all run the same function:

- :mod:`.archive`: the spool archive (daily at ``archive_time``);
- :mod:`.events`: the trim of the events table (with the archive);
- :mod:`.trimmer`: the database trimmer (after the archive, when ``keep_shifts_days``);
- :mod:`.dicts`: the dictionary trim (daily at ``dicts_trim_time``);
- :mod:`.schedule`: when each runs in ``serve``.
"""

from cashserver.jobs.archive import OPERATOR_DAYS, archive_spool, prune_archives
from cashserver.jobs.events import trim_events

__all__ = ["OPERATOR_DAYS", "archive_spool", "prune_archives", "trim_events"]
