# -*- coding: utf-8 -*-
# Copyright: Contributors to the oneclick.ai_sandbox collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sandbox_phases filter; its documentation is in sandbox_phases.yml beside this file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from datetime import datetime, timezone

# Within the engine's and the UI's part, the roles' own timings, in the order they happen.
ENGINE_PARTS = [
    ("preflight", "model check"),
    ("image_pull", "image pull (engine)"),
    ("model_download", "model download"),
    ("engine_start", "engine start"),
    ("first_token", "first token"),
]
UI_PARTS = [("image_pull", "image pull (UI)"), ("ui_ready", "UI ready")]


def _iso(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split(name, start, seconds, timings, parts):
    """The phase as its parts when the role timed them, else whole."""
    measured = (timings or {}).get("seconds") or {}
    if not all(key in measured for key, _label in parts):
        return [(name, start, seconds)]
    out = []
    for key, label in parts:
        part = max(float(measured[key]), 0.0)
        out.append((label, start, part))
        start += part
    return out


def sandbox_phases(marks, engine=None, ui=None):
    """Phases with their start and length from the marks [{phase, at}, ...] noted when each began (the
    last mark ends the one before it), the engine and ui phases split by the roles' own timings."""
    marks = sorted(({"phase": str(m["phase"]), "at": float(m["at"])} for m in marks or []), key=lambda m: m["at"])
    spans = []
    for index, mark in enumerate(marks[:-1]):
        seconds = marks[index + 1]["at"] - mark["at"]
        if mark["phase"] == "engine":
            spans.extend(_split("engine", mark["at"], seconds, engine, ENGINE_PARTS))
        elif mark["phase"] == "ui":
            spans.extend(_split("ui", mark["at"], seconds, ui, UI_PARTS))
        else:
            spans.append((mark["phase"], mark["at"], seconds))
    return [{"phase": name, "started_at": _iso(start), "seconds": round(seconds, 1)} for name, start, seconds in spans]


class FilterModule(object):
    def filters(self):
        return {"sandbox_phases": sandbox_phases}
