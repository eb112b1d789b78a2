"""The supervisor restarts a Ray head that listens but takes no driver, with backoff."""

import pytest

from cluster.ops import processes as P
from cluster.ops import supervisor as S
from tests.unit.api.conftest import unit_settings


class FakeProc:
    pid = 4242

    def poll(self):
        return None


@pytest.fixture
def supervisor(monkeypatch, tmp_path):
    settings = unit_settings(monkeypatch, tmp_path, restart_backoff=0.01, start_timeout=30)
    settings.run_dir.mkdir(parents=True)
    sup = S.Supervisor(settings)
    events = []

    def start(child):
        events.append(("start", child.name))
        child.proc = FakeProc()

    monkeypatch.setattr(S.Child, "start", start)
    monkeypatch.setattr(S.Supervisor, "save", lambda *_: None)
    monkeypatch.setattr(S.Supervisor, "_stop_child", lambda _, c: events.append(("stop", c.name)))
    monkeypatch.setattr(P, "port_in_use", lambda *_: True)
    return sup, events


def test_a_head_that_cannot_be_joined_is_restarted_until_it_can(supervisor, monkeypatch):
    sup, events = supervisor
    answers = iter(["a driver could not join within 30 s", "a driver failed to join: x", None])
    monkeypatch.setattr(P, "join_probe", lambda *_: next(answers))
    sup.start_head()
    head = S.HEAD
    assert events == [("start", head), ("stop", head)] * 2 + [("start", head)]


def test_a_head_never_joinable_fails_the_start_with_the_reason(supervisor, monkeypatch):
    sup, _ = supervisor
    sup.settings = sup.settings.model_copy(update={"start_timeout": 0.2})
    monkeypatch.setattr(P, "join_probe", lambda *_: "no driver joined")
    with pytest.raises(RuntimeError, match="cannot be joined .no driver joined"):
        sup.start_head()


def test_stop_kills_a_hung_process_that_leads_no_session():
    import subprocess
    import sys

    hung = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(15, signal.SIG_IGN); "
         "print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert hung.stdout.readline() == b"ready\n"  # SIGTERM is ignored from now on
        recorded = P.Recorded.of(hung.pid)
        P.stop_session(recorded, grace=0.3)
        assert not recorded.alive()  # killed (and reaped by psutil) before stop returned
    finally:
        hung.kill()
        hung.wait()
        hung.stdout.close()


def test_a_private_dir_is_refused_when_it_is_a_symlink_and_closed_when_too_open(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "ray-parent"
    link.symlink_to(target)
    with pytest.raises(RuntimeError, match="not a directory"):
        P.private_dir(link)
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    assert P.private_dir(loose).stat().st_mode & 0o777 == 0o700
    made = P.private_dir(tmp_path / "new" / "deep")
    assert made.stat().st_mode & 0o777 == 0o700
