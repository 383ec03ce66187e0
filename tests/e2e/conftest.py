"""Fixtures: shared real Blender instances per backend, and dedicated ones for tests that end them."""

import sys
from pathlib import Path

import pytest

# The e2e helpers (harness, pngcheck) are imported by name from this directory; importing the
# harness also puts the shared wire client (tests/support) and the addon's pure modules in reach.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Every Blender version of the matrix runs the core (execution, protocol, jobs, timeouts,
# headless screenshots, scene info): Debian's 3.4 binary, then PyPI bpy 4.2 LTS, 4.5 LTS, 5.0, 5.3.
from harness import CORE_BACKENDS, Instance  # noqa: E402


def _shared_instance(kind, env=None):
    """A session-wide Blender of ``kind``, stopped at the end of the run."""

    @pytest.fixture(scope="session")
    def fixture():
        instance = Instance(kind, env=env)
        yield instance
        instance.stop()

    return fixture


bg = _shared_instance("bg")
bpy42 = _shared_instance("bpy42")
bpy45 = _shared_instance("bpy45")
bpy5 = _shared_instance("bpy5")
bpy53 = _shared_instance("bpy53")
gui = _shared_instance("gui")
# blender-remote 1.3.3 clients send no token: they are served only with auth turned off.
bg_open = _shared_instance("bg", env={"BLD_REMOTE_MCP_AUTH": "off"})
bpy42_open = _shared_instance("bpy42", env={"BLD_REMOTE_MCP_AUTH": "off"})
bpy45_open = _shared_instance("bpy45", env={"BLD_REMOTE_MCP_AUTH": "off"})
bpy5_open = _shared_instance("bpy5", env={"BLD_REMOTE_MCP_AUTH": "off"})
bpy53_open = _shared_instance("bpy53", env={"BLD_REMOTE_MCP_AUTH": "off"})


@pytest.fixture(params=CORE_BACKENDS)
def legacy_backend(request):
    """Blender 3.4 and 5.0 with BLD_REMOTE_MCP_AUTH=off, for 1.3.3 clients."""
    return request.getfixturevalue(request.param + "_open")


@pytest.fixture(params=CORE_BACKENDS)
def backend(request):
    """The same test against Blender 3.4 (background) and Blender 5.0 (bpy module)."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def client(backend):
    """A fresh connection (so a fresh namespace) to the backend under test."""
    with backend.client() as c:
        yield c


@pytest.fixture
def spawn():
    """Start dedicated instances (own env/limits, or tests that shut Blender down)."""
    started = []

    def start(kind="bg", **kwargs):
        instance = Instance(kind, **kwargs)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()
