"""Runs never overwrite each other, outputs are checked before work starts, Ctrl-C leaves no half-written report."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import types
from pathlib import Path

import pytest

import experiments.harness.runner as runner
from experiments.harness.runner import Experiment
from fake_experiments import fake_experiment as _fake
from jaxdl import files
from jaxdl.files import OutputError

ROOT = Path(__file__).resolve().parents[2]


def _passing(result, fast):
    result.compare("two", 1 + 1, 2)


def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path):
    base = tmp_path / "runs" / "20260101-000000"
    made, barrier = [], threading.Barrier(8)

    def start_run():
        barrier.wait()
        made.append(files.new_run_dir(base))

    threads = [threading.Thread(target=start_run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8 and base in made and base.with_name("20260101-000000-8") in made


def test_two_runs_of_all_in_the_same_second_write_two_reports(tmp_path, monkeypatch):
    class FrozenClock(runner.dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 1, 1, 12, 0, 0)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner.dt, "datetime", FrozenClock)
    monkeypatch.setattr(runner, "discover", lambda: [_fake("9.1", _passing)])
    assert runner.main(["all"]) == 0 and runner.main(["all"]) == 0
    assert (tmp_path / "runs" / "20260101-120000" / "report.md").is_file()
    assert (tmp_path / "runs" / "20260101-120000-2" / "report.md").is_file()


def test_a_base_with_9998_numbered_siblings_taken_is_refused_with_what_to_do(tmp_path):
    base = tmp_path / "run"
    for n in range(1, 10_000):
        (base if n == 1 else base.with_name(f"run-{n}")).mkdir()
    with pytest.raises(OutputError) as err:
        files.new_run_dir(base)
    assert str(err.value) == f"{base} and 9998 numbered siblings all exist; clear out old runs"
    (tmp_path / "run-9999").rmdir()
    assert files.new_run_dir(base) == tmp_path / "run-9999"  # the last one it tries


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = files.write_text_atomic(tmp_path / "report.md", "old report\n")

    def interrupted_replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        files.write_text_atomic(path, "new report, never complete\n")
    assert path.read_text() == "old report\n" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_are_as_readable_as_the_umask_allows_and_pngs_too(tmp_path, umask):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxdl import computational_graph as graph
    from jaxdl import plotting

    old = os.umask(umask)
    try:
        paths = [files.write_text_atomic(tmp_path / "report.md", "text\n"),
                 plotting.save_figure(plt.figure(), tmp_path / "figure.png"),
                 graph.save_png([("input", "x")], [], tmp_path / "graph.png")]
    finally:
        os.umask(old)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in paths} == {
        p.name: 0o666 & ~umask for p in paths}
    assert paths[1].read_bytes().startswith(b"\x89PNG") and paths[2].read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png", "graph.png", "report.md"]


def test_a_failing_block_leaves_no_file_and_names_the_temporary_beside_the_target(tmp_path):
    seen = []
    with pytest.raises(RuntimeError, match="half"):
        with files.atomic_file(tmp_path / "out.bin", "wb", suffix=".part") as f:
            seen.append(Path(f.name))  # the name it is written under
            f.write(b"half")
            raise RuntimeError("half written")
    assert seen[0].parent == tmp_path and seen[0].name.startswith(".out.bin.") and seen[0].suffix == ".part"
    assert list(tmp_path.iterdir()) == []


class FakeResponse(io.BytesIO):
    """What urllib.request.urlopen returns, serving bytes and recording the chunk sizes read."""

    def __init__(self, content: bytes, length: bool = True):
        super().__init__(content)
        self.headers = {"Content-Length": str(len(content))} if length else {}
        self.reads = []

    def read(self, size=-1):
        self.reads.append(size)
        return super().read(size)


@pytest.mark.parametrize("length", [True, False])
def test_download_atomic_streams_in_64_kib_chunks_with_a_byte_progress_bar(tmp_path, monkeypatch, capsys, length):
    content = bytes(range(256)) * 800  # 204800 bytes
    responses, opened, checked = [], [], []

    def urlopen(url, timeout):
        opened.append((url, timeout))
        responses.append(FakeResponse(content, length))
        return responses[-1]

    def verify(tmp):
        checked.append((tmp.parent, tmp.name, tmp.read_bytes() == content))

    monkeypatch.setattr(files.urllib.request, "urlopen", urlopen)
    target = files.download_atomic("http://hub/data.bin", str(tmp_path / "data.bin"), verify, progress=True)
    assert target == tmp_path / "data.bin" and target.read_bytes() == content
    assert opened == [("http://hub/data.bin", 60)] and responses[0].reads == [65536] * 5
    assert checked[0][0] == tmp_path and checked[0][1].startswith(".data.bin.") and checked[0][1].endswith(".part")
    assert checked[0][2]  # verify saw the whole download before the rename
    assert list(tmp_path.iterdir()) == [target]
    lines = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()
    if length:
        assert lines[-1].startswith("data.bin: 100%") and "205k/205k [" in lines[-1] and "B/s]" in lines[-1]
    else:  # an unknown size: bytes so far, never a percentage
        assert lines[-1].startswith("data.bin: 205kB [") and not any("%" in line for line in lines)
    files.download_atomic("http://hub/data.bin", tmp_path / "quiet.bin", verify)
    assert capsys.readouterr().err == ""  # no bar unless asked for


def test_reports_are_written_through_a_temporary_name(tmp_path, monkeypatch):
    renamed = []
    real_replace = files.os.replace
    monkeypatch.setattr(files.os, "replace", lambda src, dst: (renamed.append(Path(dst).name), real_replace(src, dst)))
    monkeypatch.setattr(runner, "discover", lambda: [_fake("9.1", _passing)])
    assert runner.main(["all", "--out", str(tmp_path)]) == 0
    assert sorted(renamed) == ["report.html", "report.md"]


def test_an_unwritable_out_is_refused_before_any_experiment_runs(tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(runner, "discover", lambda: [_fake("9.1", lambda result, fast: ran.append(1))])
    (tmp_path / "a_file").write_text("")
    for command in (["run", "9.1"], ["all"]):
        with pytest.raises(SystemExit) as exit_info:
            runner.main([*command, "--out", str(tmp_path / "a_file" / "out")])
        assert exit_info.value.code == 2 and not ran
        assert "a_file is a file, not a directory" in capsys.readouterr().err


def test_a_module_run_with_an_unwritable_out_exits_2_before_running(tmp_path, capsys):
    from experiments.harness.result import cli

    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        cli("9.1", "Never runs", lambda result, fast: pytest.fail("ran"), argv=["--out", str(tmp_path / "a_file")])
    assert exit_info.value.code == 2 and "a_file is a file, not a directory" in capsys.readouterr().err


def test_ctrl_c_ends_with_one_line_status_130_and_no_report(tmp_path, monkeypatch, capsys):
    def interrupted(result, fast):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "discover", lambda: [_fake("9.1", _passing), _fake("9.2", interrupted)])
    assert runner.main(["all", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"interrupted after 1 of 2 experiments; no report written (figures so far are in {tmp_path})"]
    assert not (tmp_path / "report.md").exists() and not (tmp_path / "report.html").exists()


def test_sigint_to_a_running_process_exits_130_with_one_line(tmp_path):
    script = textwrap.dedent(f"""
        import signal, sys, time, types
        # Python's Ctrl-C handler, even if this process was started with SIGINT ignored (mutmut's workers
        # ignore it, and an ignored signal is inherited): the behaviour under test is the runner's, not this.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import experiments.harness.runner as runner
        module = types.ModuleType("experiments.fake_9_1")
        module.SECTION, module.TITLE = "9.1", "Sleeps"
        def run(result, fast):
            print("started", flush=True)
            time.sleep(60)
        module.run = run
        runner.discover = lambda: [runner.Experiment("9.1", "Sleeps", module)]
        sys.exit(runner.main(["all", "--out", {str(tmp_path)!r}]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
    try:
        assert "started" in proc.stdout.readline() + proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip() == f"interrupted after 0 of 1 experiments; no report written (figures so far are in {tmp_path})"
    assert not (tmp_path / "report.md").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where nobody can create files")
def test_an_existing_directory_that_takes_no_files_is_refused():
    with pytest.raises(OutputError, match=r"cannot write to /proc \(.*\); choose another directory"):
        files.check_writable_dir("/proc")


def test_output_checks_refuse_files_in_the_way(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(OutputError, match=r"a_file is a file, not a directory; .* for .*a_file/sub$"):
        files.check_writable_dir(tmp_path / "a_file" / "sub")
    assert files.check_writable_dir(tmp_path / "new" / "deeper").is_dir()
