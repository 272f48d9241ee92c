"""The front process: the accept path of both protocols.

:mod:`.ingest` (what every transport does with a call), :mod:`.admission` (the
registers directory in memory), :mod:`.turns` (uploads built at the same time)
and :mod:`.link` (the front's end of the verdict channel to the writer process).
Nothing here opens the database.
"""
