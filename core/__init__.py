"""The bottom layer every other package shares: errors, atomic files, the state schema, process helpers.

It imports none of ``agent``, ``envs`` or ``sandboxes`` (a test checks the import graph). The sandbox
worker imports ``core.state`` and ``core.procs`` inside its bubblewrap root, so those two modules
import only the standard library and numpy.
"""
