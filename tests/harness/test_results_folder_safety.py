"""A results folder is shared (between runs, people, cluster nodes), so it may hold links,
FIFOs and files edited by anyone. Issue 42: nothing spark-bench writes follows a link out of
it, a report is replaced whole or not at all, and a hostile folder gives one line, never a
traceback or a hang. The last test fuzzes whole results folders."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adapters.files import UnsafePath, open_fresh, real_folder, staged_folder
from benchmarks.cli import main
from benchmarks.provenance import machine_folder_name
from benchmarks.results import MalformedResults, read_cell_file, sealed, write_cell
from benchmarks.sweep import SweepError, exclusive_lock
from benchmarks.unit_process import remove_orphaned_tmpdirs
from reports import aggregate as agg
from reports.aggregate import NoResults, ReportError
from reports.render import machine_record, roofline_table
from tests.reports.synthetic import write_synthetic_results

VICTIM_TEXT = "a file outside the results folder\n"


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "elsewhere" / "victim.txt"
    path.parent.mkdir()
    path.write_text(VICTIM_TEXT)
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished results folder (the reports' synthetic one: 2 instances, 5 backends)."""
    return write_synthetic_results(tmp_path_factory.mktemp("finished") / "results", seed=3)


def _copy(finished: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "results", symlinks=True))


# --------------------------------------------------------------------------- writes


def test_a_linked_lock_is_refused_and_its_target_left_alone(tmp_path, victim):
    out = tmp_path / "o"
    out.mkdir()
    (out / ".sweep.lock").symlink_to(victim)
    with pytest.raises(SweepError, match="is a link"):
        with exclusive_lock(out):
            pass
    assert victim.read_text() == VICTIM_TEXT


def test_a_sweep_with_a_linked_lock_exits_2_before_running_anything(tmp_path, victim, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / ".sweep.lock").symlink_to(victim)
    assert main(["run", "tiny", "--backends", "spark", "--timesteps", "10", "--runs", "1",
                 "--instances", "1", "--duration", "50", "--no-cold", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is a link" in err and err.count("\n") == 1
    assert victim.read_text() == VICTIM_TEXT and not (out / "cells").exists()


@pytest.mark.parametrize("folder", ["cells", "logs"])
def test_a_sweep_into_linked_cells_or_logs_exits_2(tmp_path, victim, capsys, folder):
    out = tmp_path / "o"
    out.mkdir()
    (out / folder).symlink_to(victim.parent, target_is_directory=True)
    assert main(["run", "tiny", "--backends", "spark", "--timesteps", "10", "--runs", "1",
                 "--instances", "1", "--duration", "50", "--no-cold", "--out", str(out)]) == 2
    assert f"{out / folder}: is a link" in capsys.readouterr().err
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]


def test_the_lock_holders_text_is_printed_escaped(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / ".sweep.lock").write_text("pid 1 \x1b]0;owned\x07\x1b[2J")
    holder = os.open(out / ".sweep.lock", os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(SweepError) as err:
            with exclusive_lock(out):
                pass
    finally:
        os.close(holder)
    assert "\x1b" not in str(err.value) and "\\x1b]0;owned\\x07" in str(err.value)


def test_a_linked_log_is_replaced_not_written_through(tmp_path, victim):
    log = tmp_path / "logs" / "unit.log"
    log.parent.mkdir()
    log.symlink_to(victim)
    with os.fdopen(open_fresh(log), "w") as fh:
        fh.write("worker output\n")
    assert victim.read_text() == VICTIM_TEXT
    assert not log.is_symlink() and log.read_text() == "worker output\n"


def test_cells_are_never_written_into_a_linked_folder(tmp_path, victim):
    results = tmp_path / "results"
    results.mkdir()
    (results / "cells").symlink_to(victim.parent, target_is_directory=True)
    with pytest.raises(UnsafePath, match="is a link"):
        write_cell(results, "c", [])
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]
    (results / "plain").write_text("x")
    with pytest.raises(UnsafePath, match="not a folder"):
        real_folder(results / "plain")


def test_machine_folders_are_unique_and_stay_inside(tmp_path):
    names = ["node-1", "..", ".", "", "a b", "a_b", "a/b", "../../etc", "x" * 300, "\x1b[2J",
             "ünï", "a_b-" + "0" * 10]
    folders = [machine_folder_name(n) for n in names]
    assert len(set(folders)) == len(names)
    for folder in folders:
        assert folder and len(folder) <= 64 and "/" not in folder and not folder.startswith(".")
        assert (tmp_path / "machines" / folder).resolve().parent == (tmp_path / "machines").resolve()
    assert machine_folder_name("node-1") == "node-1"  # a plain host name is kept


def test_orphaned_worker_folders_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    root = tmp_path / "tmp"
    orphan, live = root / f"worker-{dead.pid}-abc", root / f"worker-{os.getpid()}-def"
    legacy_old, legacy_new = root / "worker-oldstyle1", root / "worker-oldstyle2"
    for folder in (orphan, live, legacy_old, legacy_new):
        folder.mkdir(parents=True)
        (folder / "brian_script_1.py").write_text("x")
    os.utime(legacy_old, (0, 0))
    removed = remove_orphaned_tmpdirs(root)
    assert sorted(removed) == sorted([orphan, legacy_old])
    assert live.is_dir() and legacy_new.is_dir() and not orphan.exists()


def test_spec_export_does_not_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "net.toml"
    out.write_text("mine\n")
    assert main(["spec", "export", "tiny", "--out", str(out)]) == 2
    assert "exists; add --force" in capsys.readouterr().err and out.read_text() == "mine\n"
    assert main(["spec", "export", "tiny", "--out", str(out), "--force"]) == 0
    assert "[[populations]]" in out.read_text()


# --------------------------------------------------------------------------- the report


def test_a_failed_report_leaves_the_old_one_as_it_was(tmp_path):
    out = tmp_path / "report"
    with staged_folder(out) as staging:
        (staging / "report.md").write_text("first\n")
    with pytest.raises(OSError, match="No space left"):
        with staged_folder(out) as staging:
            (staging / "report.md").write_text("half of the second")
            raise OSError(28, "No space left on device")
    assert (out / "report.md").read_text() == "first\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging left
    with staged_folder(out) as staging:
        (staging / "report.md").write_text("second\n")
    assert (out / "report.md").read_text() == "second\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_a_report_never_replaces_a_folder_it_did_not_write(tmp_path, finished, capsys):
    results = _copy(finished, tmp_path)
    mine = tmp_path / "my-documents"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work\n")
    assert main(["report", str(results), "--out", str(mine), "--format", "md"]) == 2
    assert "did not write; refusing" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]
    assert main(["report", str(results), "--out", str(results), "--format", "md"]) == 2
    assert "holds the results directory" in capsys.readouterr().err
    (tmp_path / "linked").symlink_to(mine, target_is_directory=True)
    assert main(["report", str(results), "--out", str(tmp_path / "linked"), "--format", "md"]) == 2
    assert "is a link" in capsys.readouterr().err


def test_a_disk_error_while_writing_the_report_is_one_line(tmp_path, finished, capsys,
                                                            monkeypatch):
    import reports.render

    results = _copy(finished, tmp_path)
    assert main(["report", str(results), "--format", "md"]) == 0
    before = (results / "report" / "report.md").read_text()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(results / "report" / "x.csv"))

    monkeypatch.setattr(reports.render, "_write_csv", full_disk)
    capsys.readouterr()
    assert main(["report", str(results), "--format", "md"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err
    assert (results / "report" / "report.md").read_text() == before
    assert not [p for p in results.iterdir() if p.name.startswith(".report.")]


@pytest.mark.parametrize("text, why", [
    ("", "missing column"),
    ("network,dtype,backend\n", "missing column"),
    (b"\xff\xfe".decode("latin-1"), "not UTF-8 text"),
    ("network,dtype,backend,sim_seconds,loop_seconds,events,events_per_second,"
     "bandwidth_bytes_per_second,bound_events_per_second,fraction_of_bound\n", "no rows"),
    ("network,dtype,backend,sim_seconds,loop_seconds,events,events_per_second,"
     "bandwidth_bytes_per_second,bound_events_per_second,fraction_of_bound\n"
     "p,float32,spark,1,nan,1,1,1,1,0.1\n", "loop_seconds = 'nan'"),
    ("network,dtype,backend,sim_seconds,loop_seconds,events,events_per_second,"
     "bandwidth_bytes_per_second,bound_events_per_second,fraction_of_bound\n"
     "p,float32,spark,1,1,1\n", "a short row"),
])
def test_a_bad_roofline_file_is_one_line(tmp_path, finished, text, why):
    results = _copy(finished, tmp_path)
    (results / "roofline.csv").write_text(text, encoding="latin-1")
    with pytest.raises(MalformedResults, match=why):
        roofline_table(results)


def test_a_roofline_fifo_or_link_is_not_opened(tmp_path, finished, victim):
    results = _copy(finished, tmp_path)
    os.mkfifo(results / "roofline.csv")
    with pytest.raises(MalformedResults, match="not a regular file"):
        roofline_table(results)  # a blocking open would hang here
    os.unlink(results / "roofline.csv")
    (results / "roofline.csv").symlink_to(victim)
    with pytest.raises(MalformedResults, match="is a link"):
        roofline_table(results)


# --------------------------------------------------------------------------- the fuzz

PROVENANCE_JUNK = ["[1]", '"text"', "null", "NaN", "[" * 5000 + "]" * 5000, "{", "", "\xff",
                   '{"network": ' + "1" * 5000 + "}", '{"sweep_id": null, "settings": 7}']


def _cleared(path: Path) -> Path:
    """``path`` with whatever an earlier damage left there removed."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    return path


def _mutate(rng: np.random.Generator, results: Path, outside: Path) -> str:
    """One random damage to ``results``; returns what it did (the failure message's key)."""
    cells = sorted(c for c in (results / "cells").glob("*.csv")
                   if c.is_file() and not c.is_symlink())  # a FIFO made earlier would block
    if not cells:
        _cleared(results / "provenance.json").write_text("[1]")
        return "no regular cell left; provenance a list"
    cell = cells[rng.integers(len(cells))]
    data = cell.read_bytes() or b"\n"
    match int(rng.integers(13)):
        case 0:
            cell.write_bytes(data[: rng.integers(len(data))])
            return f"truncated {cell.name}"
        case 1:
            at = int(rng.integers(len(data)))
            cell.write_bytes(data[:at] + bytes([data[at] ^ 0x41]) + data[at + 1:])
            return f"flipped a byte of {cell.name}"
        case 2:
            cell.write_bytes(rng.bytes(int(rng.integers(1, 2000))))
            return f"garbage in {cell.name}"
        case 3:
            cell.unlink()
            cell.symlink_to(outside)
            return f"{cell.name} a link"
        case 4:
            cell.unlink()
            os.mkfifo(cell)
            return f"{cell.name} a FIFO"
        case 5:
            cell.unlink()
            cell.mkdir()
            return f"{cell.name} a folder"
        case 6:
            junk = PROVENANCE_JUNK[rng.integers(len(PROVENANCE_JUNK))]
            _cleared(results / "provenance.json").write_text(junk, encoding="latin-1")
            return f"provenance {junk[:20]!r}"
        case 7:
            _cleared(results / "provenance.json").mkdir()
            return "provenance a folder"
        case 8:
            (results / "roofline.csv").write_bytes(rng.bytes(int(rng.integers(0, 300))))
            return "garbage roofline"
        case 9:
            (results / "machines").mkdir(exist_ok=True)
            name = machine_folder_name(str(rng.choice(["..", "a b", "x" * 300, "host"])))
            (results / "machines" / f"{name}.json").write_bytes(rng.bytes(50))
            return "garbage machine record"
        case 10:
            lines = data.splitlines(keepends=True)
            cell.write_bytes(b"".join(lines[:1] + lines[1:2] * 50 + lines[1:]))
            return f"a row of {cell.name} repeated 50 times"
        case 11:
            found = read_cell_file(cell)
            lines = found.body.splitlines(keepends=True)
            if found.problem or len(lines) < 2:
                return f"{cell.name} left as it was (no sealed row to cut)"
            row = int(rng.integers(1, len(lines)))
            fields = lines[row].rstrip("\n").split(",")
            lines[row] = ",".join(fields[: int(rng.integers(1, len(fields)))]) + "\n"
            cell.write_text(sealed("".join(lines), found.sweep))
            return f"a line of {cell.name} cut short, trailer resealed"
        case _:
            for extra in cells[: int(rng.integers(1, 4))]:
                extra.unlink()
            return "cells removed"


def _read_everything(results: Path) -> None:
    """Every read a report makes of a results folder's files."""
    frame, _ = agg.load(results)
    roofline_table(results)
    for machine in agg.machines(frame):
        machine_record(results, machine)


def test_fuzzed_results_folders_are_read_or_refused_with_one_line(tmp_path, finished):
    """60 results folders, each a finished one with one to three random damages (cells cut,
    flipped, garbage, links, FIFOs, folders; provenance, roofline and machine files of
    junk; repeated rows; missing cells): each is read, or refused with one line naming a
    file; nothing escapes (no TypeError, KeyError, RecursionError), nothing blocks, and
    nothing outside the folder changes."""
    rng = np.random.default_rng(42)
    outside = tmp_path / "outside.csv"
    outside.write_text(VICTIM_TEXT)
    outcomes = {"read": 0, "refused": 0}
    for case in range(60):
        results = Path(shutil.copytree(finished, tmp_path / f"r{case}", symlinks=True))
        done = [_mutate(rng, results, outside) for _ in range(int(rng.integers(1, 4)))]
        try:
            _read_everything(results)
            outcomes["read"] += 1
        except (NoResults, ReportError, MalformedResults) as err:
            assert "\n" not in str(err) and str(results) in str(err), (done, str(err))
            outcomes["refused"] += 1
        except Exception as err:  # noqa: BLE001 - the assertion names what escaped
            pytest.fail(f"{done}: {type(err).__name__}: {err}")
        shutil.rmtree(results)
    assert outside.read_text() == VICTIM_TEXT
    assert outcomes["read"] > 15 and outcomes["refused"] > 10, outcomes


def test_damaged_cells_are_named_in_the_report(tmp_path, finished, capsys):
    """End to end, with the CLI: a cut cell and a FIFO in cells/ are listed as rejected,
    with file and reason, in report.md, and the other cells make the report."""
    results = _copy(finished, tmp_path)
    cells = sorted((results / "cells").glob("*.csv"))
    cells[0].write_bytes(cells[0].read_bytes()[:300])
    os.mkfifo(results / "cells" / "zz-fifo.csv")
    assert main(["report", str(results), "--format", "md"]) == 0
    md = (results / "report" / "report.md").read_text()
    assert f"{cells[0].name}: no checksum trailer" in md
    assert "zz-fifo.csv: not a regular file" in md
    json.loads((results / "provenance.json").read_text())  # untouched by the report


def test_a_rejected_cell_is_not_taken_for_a_second_machine(tmp_path, finished):
    """A cut cell has no trustworthy machine: the report stays one machine's report (no
    machines/ index with a 'not recorded' machine) and names the cell as rejected."""
    from tests.reports.synthetic import edit_cells

    results = _copy(finished, tmp_path)
    edit_cells(results, lambda frame: frame.assign(machine="vm"))
    cells = sorted((results / "cells").glob("*.csv"))
    cells[0].write_bytes(cells[0].read_bytes()[:300])
    assert main(["report", str(results), "--format", "md"]) == 0
    assert not (results / "report" / "machines").exists()
    md = (results / "report" / "report.md").read_text()
    assert f"{cells[0].name}: no checksum trailer" in md
    assert "Warning: 1 row(s) or cell(s)" in md


def test_a_truncated_provenance_stops_a_run_with_one_line(tmp_path, finished, capsys):
    results = _copy(finished, tmp_path)
    (results / "provenance.json").write_text((results / "provenance.json").read_text()[:100])
    code = main(["run", "tiny", "--backends", "spark", "--timesteps", "10", "--runs", "1",
                 "--instances", "1", "--duration", "50", "--no-cold", "--out", str(results)])
    err = capsys.readouterr().err
    assert code == 2 and "provenance.json" in err and "Traceback" not in err


def test_the_sweep_shape_leaves_rejected_rows_out(tmp_path):
    """A rejected cell's stand-in (k = 0, no sweep id, instance 0) and a rejected row (a
    hostile k) are not the sweep's: the summary's k, the sweep count of the mixed-sweeps
    warning and the instances come from the rows a report uses (k = 0 gave 'math domain
    error'; the empty id read as a second sweep)."""
    from dataclasses import replace

    from benchmarks.results import ResultRow, load_rows, write_cell
    from reports.aggregate import sweep_shape
    from reports.summary import _mixed_warning, pick_k

    good = ResultRow(sweep_id="abc123", network="tiny", instance=1, backend="spark",
                     loop="closed", k=100, run=0, dtype="float64", threads=1, phase="loop",
                     seconds=0.5, sim_seconds=0.1, rtf=5.0, n_chunks=10, device="cpu")
    write_cell(tmp_path, "a", [good, replace(good, run=1, k=10 ** 12)])
    (tmp_path / "cells" / "b.csv").write_text("garbage\n")
    rows = load_rows(tmp_path)
    assert sorted(rows.status) == ["ok", "rejected", "rejected"]
    shape = sweep_shape(rows, {"sweep_id": "abc123"})
    assert shape["closed_ks"] == [100] and pick_k(shape["closed_ks"]) == 100
    assert shape["sweep_ids"] == ["abc123"] and _mixed_warning(shape) == []
    assert shape["instances"] == [1] and shape["dtypes"] == ["float64"]
