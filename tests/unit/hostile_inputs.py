"""The hostile-input corpus (hostile_inputs.yml beside this file) for the tests of every field:
``values()`` returns it as a list of strings.

``MARKER`` is the file a value that ran a command would create; ``no_marker()`` checks (and clears)
it. ``yaml_unsafe(answers)`` writes answers for ``ansible-playbook -e @file`` (or a play's vars) so
that Ansible keeps every value literal (``!unsafe``: no template is rendered; plain ``-e`` values are
templates).
"""

import os

import yaml

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile_inputs.yml")
MARKER = "/tmp/oneclick-hostile-marker"


def values():
    """Every value of the corpus, decoded (long ones expanded), in file order."""
    with open(CORPUS, encoding="utf-8") as handle:
        entries = yaml.safe_load(handle)
    result = []
    for entry in entries:
        if isinstance(entry, dict):
            entry = entry.get("prefix", "") + entry["repeat"] * entry["times"] + entry.get("suffix", "")
        if not isinstance(entry, str) or "\x00" in entry:
            raise ValueError("hostile_inputs.yml: %r is not a NUL-free string" % (entry,))
        result.append(entry)
    return result


def ids():
    """Short printable names for parametrized tests."""
    return ["%02d:%s" % (n, ascii(v)[1:21]) for n, v in enumerate(values())]


def no_marker():
    """True when no value ran a command; removes a marker so that the next test starts clean."""
    if os.path.lexists(MARKER):
        os.unlink(MARKER)
        return False
    return True


def _quoted(value):
    """A YAML double-quoted scalar holding value exactly (escapes for all but printable ASCII)."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code <= 0x7E:
            out.append(char)
        elif code <= 0xFFFF:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    out.append('"')
    return "".join(out)


def literal(value):
    # Only a text with "{" can be a template ({{ }}, {% %}, {# #}); Ansible's !unsafe loader cannot
    # take some plain texts ("*", "&", "!": YAML resolves them to a tag it has no constructor for).
    return ("!unsafe " if "{" in value else "") + _quoted(value)


def yaml_unsafe(answers):
    """Extra-vars YAML in which Ansible keeps every string literal (``literal``: !unsafe where it could be
    a template)."""
    lines = ["---"]
    for key, value in answers.items():
        if isinstance(value, str):
            lines.append("%s: %s" % (key, literal(value)))
        elif isinstance(value, list):
            lines.append("%s: [%s]" % (key, ", ".join(literal(v) for v in value)))
        else:
            lines.append("%s: %s" % (key, yaml.safe_dump(value, default_flow_style=True).strip().rstrip(".").strip()))
    return "\n".join(lines) + "\n"
