"""The cyclic garbage collector across a Lambda's cold start.

A cold start allocates a few hundred thousand objects that live as long as the container (modules, classes,
botocore's service and endpoint data, the strategy) and next to no garbage cycles, yet every burst of
allocations sets off a collection that walks all of them again: about a fifth of the first step message's
time. So inside Lambda the collector is off from the first import until the first invocation returns; then
what was built is frozen out of every later collection (`gc.freeze`, as for a pre-fork server) and
collection resumes as usual.
"""

from __future__ import annotations

import gc

from chalicelib.settings import get_settings

_paused = {"collector": False}


def pause_collection_for_cold_start() -> None:
    """In Lambda, no cyclic collection until `resume_collection()`; elsewhere nothing changes."""
    if get_settings().in_lambda and gc.isenabled():
        gc.disable()
        _paused["collector"] = True


def resume_collection() -> None:
    """After an invocation: the first one freezes what the cold start built and turns the collector back on."""
    if _paused["collector"]:
        _paused["collector"] = False
        gc.freeze()
        gc.enable()
