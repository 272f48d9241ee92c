"""The ``cashserver`` command line: :mod:`.main` parses and dispatches, :mod:`.common`
holds the shared plumbing, and each other module is one family of commands.
Nothing outside this package imports it.
"""
