"""Sandboxes for untrusted reward code: static checks, isolated worker processes, probe validation.

See ``sandboxes/README.md`` for the threat model: what each layer stops and what it does not.
"""
