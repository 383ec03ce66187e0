import pytest

from bld_remote_mcp.engine import config
from bld_remote_mcp.engine.config import DEFAULT_PORT, MIB, Settings, from_env, is_loopback


def test_defaults_with_an_empty_environment():
    s = from_env({})
    assert s == Settings()
    assert (s.host, s.port, s.allow_remote, s.start_now) == ("127.0.0.1", DEFAULT_PORT, False, False)
    assert s.max_message_bytes == 64 * MIB and s.idle_timeout == 30.0
    assert s.check() is s


def test_every_variable_is_read():
    env = {
        "BLD_REMOTE_MCP_HOST": " ::1 ",
        "BLD_REMOTE_MCP_PORT": " 7000 ",
        "BLD_REMOTE_MCP_ALLOW_REMOTE": "yes",
        "BLD_REMOTE_MCP_START_NOW": "On",
        "BLD_REMOTE_MCP_MAX_MESSAGE_BYTES": "2048",
        "BLD_REMOTE_MCP_IDLE_TIMEOUT": "1.5",
        "BLD_REMOTE_MCP_DEFAULT_TIMEOUT": "12",
        "BLD_REMOTE_MCP_STUCK_GRACE": "0.5",
        "BLD_REMOTE_MCP_MAX_OUTPUT_BYTES": "4096",
        "BLD_REMOTE_MCP_MAX_RESULT_BYTES": "8192",
        "BLD_REMOTE_MCP_MAX_PENDING_JOBS": "3",
        "BLD_REMOTE_MCP_MAX_FINISHED_JOBS": "4",
        "BLD_REMOTE_MCP_FINISHED_JOB_TTL": "5",
        "BLD_REMOTE_MCP_MAX_CONNECTIONS": "6",
    }
    s = from_env(env)
    assert s.host == "::1" and s.port == 7000
    assert s.allow_remote is True and s.start_now is True
    assert (s.max_message_bytes, s.idle_timeout, s.default_timeout, s.stuck_grace) == (2048, 1.5, 12.0, 0.5)
    assert (s.max_output_bytes, s.max_result_bytes) == (4096, 8192)
    assert (s.max_pending_jobs, s.max_finished_jobs, s.finished_job_ttl, s.max_connections) == (3, 4, 5.0, 6)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", " yes ", "on"])
def test_truthy_values(value):
    assert from_env({"BLD_REMOTE_MCP_START_NOW": value}).start_now is True


@pytest.mark.parametrize("value", ["0", "false", "no", "", "maybe"])
def test_falsy_values(value):
    assert from_env({"BLD_REMOTE_MCP_START_NOW": value}).start_now is False


def test_blank_values_mean_the_default():
    s = from_env({"BLD_REMOTE_MCP_PORT": "  ", "BLD_REMOTE_MCP_HOST": " ", "BLD_REMOTE_MCP_IDLE_TIMEOUT": ""})
    assert (s.port, s.host, s.idle_timeout) == (DEFAULT_PORT, "127.0.0.1", 30.0)


@pytest.mark.parametrize(
    "name,value,fragment",
    [
        ("BLD_REMOTE_MCP_PORT", "abc", "must be an integer"),
        ("BLD_REMOTE_MCP_PORT", "1.5", "must be an integer"),
        ("BLD_REMOTE_MCP_PORT", "-1", "must be >= 0"),
        ("BLD_REMOTE_MCP_MAX_MESSAGE_BYTES", "100", "must be >= 1024"),
        ("BLD_REMOTE_MCP_IDLE_TIMEOUT", "soon", "must be a number"),
        ("BLD_REMOTE_MCP_STUCK_GRACE", "0.01", "must be >= 0.05"),
        ("BLD_REMOTE_MCP_MAX_PENDING_JOBS", "0", "must be >= 1"),
    ],
)
def test_bad_values_are_refused_with_the_variable_name(name, value, fragment):
    with pytest.raises(ValueError) as info:
        from_env({name: value})
    assert name in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_hosts(host):
    assert is_loopback(host)
    assert Settings(host=host).check()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.2", "::", "example.com", ""])
def test_non_loopback_hosts_need_an_explicit_opt_in(host):
    assert not is_loopback(host)
    with pytest.raises(ValueError, match="BLD_REMOTE_MCP_ALLOW_REMOTE"):
        Settings(host=host).check()
    assert Settings(host=host, allow_remote=True).check()


@pytest.mark.parametrize("port", [-1, 65536])
def test_port_range(port):
    with pytest.raises(ValueError, match="0..65535"):
        Settings(port=port).check()


def test_from_env_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("BLD_REMOTE_MCP_PORT", "7123")
    assert config.from_env().port == 7123


def test_nan_is_not_a_valid_number_setting():
    import pytest

    from bld_remote_mcp.engine import config

    with pytest.raises(ValueError, match="BLD_REMOTE_MCP_IDLE_TIMEOUT"):
        config.from_env({"BLD_REMOTE_MCP_IDLE_TIMEOUT": "nan"})


def test_addon_preferences_replace_defaults_and_environment_wins():
    prefs = {"port": 7001, "auto_start": True, "auth": False}
    settings = config.from_env({}, preferences=prefs)
    assert (settings.port, settings.start_now, settings.auth) == (7001, True, False)
    settings = config.from_env({"BLD_REMOTE_MCP_PORT": "7002", "BLD_REMOTE_MCP_START_NOW": "0",
                                "BLD_REMOTE_MCP_AUTH": "on"}, preferences=prefs)
    assert (settings.port, settings.start_now, settings.auth) == (7002, False, True)
    assert config.from_env({}, preferences=None).auth is True
