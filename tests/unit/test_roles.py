"""Every role documents exactly the variables it defaults, with a type, and names them after itself."""

import os

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = sorted(name for name in os.listdir(os.path.join(ROOT, "roles")) if not name.startswith("."))


def load(role, *parts):
    with open(os.path.join(ROOT, "roles", role, *parts)) as handle:
        return yaml.safe_load(handle) or {}


def options(role):
    """Every entry point's options together (the internal _common role has one entry point per step)."""
    merged = {}
    for spec in load(role, "meta", "argument_specs.yml")["argument_specs"].values():
        merged.update(spec.get("options") or {})
    return merged


@pytest.mark.parametrize("role", ROLES)
def test_argument_spec_matches_defaults(role):
    defaults = load(role, "defaults", "main.yml")
    optional = {name for name, option in options(role).items() if not option.get("required")}
    assert sorted(optional) == sorted(defaults), "argument_specs.yml and defaults/main.yml list different variables"
    for name, option in options(role).items():
        assert name.startswith(role.lstrip("_") + "_") or name.startswith(role + "_"), (
            "%s is not prefixed with the role name" % name
        )
        assert option.get("type"), "%s has no type" % name
        assert option.get("description"), "%s has no description" % name
        if name in defaults and "{{" not in str(defaults[name]):
            assert option.get("default") == defaults[name], "%s: the spec's default is not defaults/main.yml's" % name


@pytest.mark.parametrize("role", ROLES)
def test_readme_lists_every_variable(role):
    with open(os.path.join(ROOT, "roles", role, "README.md")) as handle:
        readme = handle.read()
    missing = [name for name in load(role, "defaults", "main.yml") if "`%s`" % name not in readme]
    assert not missing, "README.md of %s does not list %s" % (role, missing)


@pytest.mark.parametrize("role", ROLES)
def test_private_variables_are_double_underscored(role):
    if not os.path.exists(os.path.join(ROOT, "roles", role, "vars", "main.yml")):
        pytest.skip("%s has no vars/main.yml" % role)
    for name in load(role, "vars", "main.yml"):
        assert name.startswith("__%s_" % role.lstrip("_")), "%s in vars/main.yml is not private (__%s_*)" % (name, role)
