# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sandbox_phases filter; its documentation is in sandbox_phases.yml beside this file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from datetime import datetime, timezone

from ansible_collections.oneclick.ai_sandbox.plugins.module_utils import sandbox_contract

# The stages the roles time themselves: the role's timings fact, by the stage's tag.
_TIMED = {tag: parts for tag, parts, _default in sandbox_contract.STAGES if parts}


def _iso(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _label(phase):
    return sandbox_contract.PHASE_LABELS.get(phase, phase)


def _split(stage, start, seconds, timings):
    """The stage as its phases when the role timed each of them, else whole. Phases with their own start
    and end (``spans``: transfers that began before the stage, beside other work) keep them."""
    parts = _TIMED.get(stage, [])
    spans = (timings or {}).get("spans") or {}
    if parts and all(part in spans for part in parts):
        out = []
        for part in parts:
            begin, end = (float(value) for value in spans[part])
            out.append((_label(part), begin, max(end - begin, 0.0)))
        return out
    measured = (timings or {}).get("seconds") or {}
    if not parts or not all(part in measured for part in parts):
        return [(_label(stage), start, seconds)]
    out = []
    for part in parts:
        length = max(float(measured[part]), 0.0)
        out.append((_label(part), start, length))
        start += length
    return out


def sandbox_phases(marks, engine=None, ui=None):
    """Phases with their start and length from the marks [{phase, at}, ...] noted when each began (the
    last mark ends the one before it); the engine and ui stages split by the roles' own timings."""
    timings = {"engine": engine, "ui": ui}
    marks = sorted(({"phase": str(m["phase"]), "at": float(m["at"])} for m in marks or []), key=lambda m: m["at"])
    spans = []
    for index, mark in enumerate(marks[:-1]):
        if mark["phase"] in sandbox_contract.PREFETCH_MARKS:
            continue
        seconds = marks[index + 1]["at"] - mark["at"]
        spans.extend(_split(mark["phase"], mark["at"], seconds, timings.get(mark["phase"])))
    spans.sort(key=lambda span: span[1])
    return [{"phase": name, "started_at": _iso(start), "seconds": round(seconds, 1)} for name, start, seconds in spans]


def sandbox_ready_seconds(marks):
    """Wall-clock seconds from the first mark to the last: the time to ready, however the phases overlap."""
    times = [float(m["at"]) for m in marks or []]
    return round(max(times) - min(times), 1) if times else 0.0


class FilterModule(object):
    def filters(self):
        return {"sandbox_phases": sandbox_phases, "sandbox_ready_seconds": sandbox_ready_seconds}
