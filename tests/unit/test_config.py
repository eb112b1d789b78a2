import pytest
import typer
from pydantic import ValidationError

from cluster.clients.common import node_urls
from cluster.common.config import Settings


@pytest.fixture(autouse=True)
def _no_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no cluster.toml here: defaults only


def test_defaults_are_three_nodes_on_4000_to_4002():
    settings = Settings()
    assert [n.url for n in settings.nodes] == [
        "http://127.0.0.1:4000",
        "http://127.0.0.1:4001",
        "http://127.0.0.1:4002",
    ]
    assert 6379 not in settings.ray.ports().values()


def test_toml_file_then_env_override(monkeypatch, tmp_path):
    (tmp_path / "cluster.toml").write_text("discovery_interval = 5.0\n[ray]\nport = 27000\n")
    assert Settings().discovery_interval == 5.0
    monkeypatch.setenv("METRICS_RAY__PORT", "28000")
    monkeypatch.setenv("METRICS_NODES", '[{"name": "x", "port": 5000}]')
    settings = Settings()
    assert settings.ray.port == 28000 and settings.ray.ports()["node-manager-port"] == 28001
    assert [n.name for n in settings.nodes] == ["x"]


def test_named_config_file_must_exist(monkeypatch):
    monkeypatch.setenv("METRICS_CONFIG", "/nonexistent/cluster.toml")
    with pytest.raises(ValueError, match="no such file"):
        Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("METRICS_DISCOVERY_INTERVAL", "0"),
        ("METRICS_DISCOVERY_INTERVAL", "soon"),
        ("METRICS_NODES", '[{"name": "a", "port": 1}, {"name": "a", "port": 2}]'),
        ("METRICS_NODES", "[]"),
        ("METRICS_NODE_NAME", "not-a-node"),
        ("METRICS_RAY__PORT", "80"),
    ],
)
def test_bad_values_are_refused(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_misspelt_env_setting_is_refused(monkeypatch):
    monkeypatch.setenv("METRICS_DISCOVERY_INTERVALL", "1")
    with pytest.raises(ValueError, match="METRICS_DISCOVERY_INTERVALL"):
        Settings()


@pytest.mark.parametrize(
    "name", ["METRICS_RAY__PROT", "METRICS_BUFFERS__RAW_SECOND", "METRICS_AGENT__INTERVALL"]
)
def test_misspelt_nested_env_setting_is_refused(monkeypatch, name):
    monkeypatch.setenv(name, "27000")
    key = name[len("METRICS_") :].lower().replace("__", ".")
    with pytest.raises(ValidationError, match=key.replace(".", r"\.")):
        Settings()


def test_misspelt_nested_toml_setting_is_refused(tmp_path):
    (tmp_path / "cluster.toml").write_text("[ray]\nprot = 27000\n")
    with pytest.raises(ValidationError, match=r"ray\.prot"):
        Settings()


def test_misspelt_node_key_in_toml_is_refused(tmp_path):
    (tmp_path / "cluster.toml").write_text('[[nodes]]\nname = "a"\nprot = 5000\n')
    with pytest.raises(ValidationError, match="prot"):
        Settings()


def test_clients_default_to_the_configured_nodes(monkeypatch):
    assert node_urls(None) == [n.url for n in Settings().nodes]
    monkeypatch.setenv("METRICS_NODES", '[{"name": "x", "port": 5000}]')
    assert node_urls(None) == ["http://127.0.0.1:5000"]  # read when needed, not at import
    monkeypatch.setenv("METRICS_NODES", "[]")
    with pytest.raises(typer.Exit):
        node_urls(None)
    assert node_urls(["http://h:1/"]) == ["http://h:1"]  # --url needs no configuration
