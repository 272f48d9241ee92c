"""Pull: the server asks registers for their sales (SPEC 10), the third door to the spool.

A pulled shift travels the same road as a pushed one: it is validated, written
to the spool as a sales file with ``source: "pull"`` and loaded by the loader.
This package holds the clients of
both protocols (:mod:`.clients`), one register's pull and its loading state
(:mod:`.runner`), several registers at once (:func:`.runner.pull_registers`), the
schedule (:mod:`.schedule`) and the hand-over to a running daemon (:mod:`.handoff`).
"""
