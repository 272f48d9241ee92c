"""The writer side: everything that writes the database or the outbox.

:mod:`.side` (its parts, started as stages), :mod:`.loader` (the single writer of
shifts and receipts) and :mod:`.child` (the writer process's main). The front
process never imports this package.
"""
