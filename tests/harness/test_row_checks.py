"""The one place rows are checked (benchmarks.results.row_problems) and how load_rows keeps
what it rejects: marked, with the file and the reason, never counted."""

from __future__ import annotations

from dataclasses import replace

from benchmarks.results import ResultRow, load_rows, write_cell

GOOD = ResultRow(sweep_id="abc123", network="tiny", instance=1, backend="spark", loop="closed",
                 k=10, run=0, dtype="float64", threads=1, phase="loop", seconds=0.5,
                 sim_seconds=0.1, rtf=5.0, n_chunks=10, device="cpu")


def test_bad_rows_are_rejected_with_their_reason_and_repeats_once(tmp_path):
    bad = {
        "negative": replace(GOOD, run=1, seconds=-5.0),
        "nan": replace(GOOD, run=2, seconds=float("nan")),
        "status": replace(GOOD, run=3, status="great"),
        "phase": replace(GOOD, run=4, phase="lunch"),
        "huge k": replace(GOOD, run=5, k=10 ** 12),
        "latency": replace(GOOD, run=6, latency_p50_s=-1e-3),
    }
    write_cell(tmp_path, "a", [GOOD, GOOD, *bad.values()])
    rows = load_rows(tmp_path)
    assert len(rows) == 8
    kept = rows[rows.status != "rejected"]
    assert len(kept) == 1 and kept.run.tolist() == [0]
    reasons = dict(zip(rows.loc[rows.status == "rejected", "run"], rows.loc[rows.status == "rejected", "reason"]))
    assert "a repeat of a row already read" in reasons[0]
    assert "timing not positive" in reasons[1]
    assert "timing not a finite number" in reasons[2]
    assert "unknown status" in reasons[3] and "unknown phase" in reasons[4]
    assert "k outside" in reasons[5] and "latency_p50_s negative" in reasons[6]
    assert all(str(tmp_path / "cells" / "a.csv") in r for r in reasons.values())


def test_a_cut_or_edited_cell_counts_for_nothing(tmp_path):
    path = write_cell(tmp_path, "a", [GOOD, replace(GOOD, run=1)])
    text = path.read_text()
    path.write_text(text.replace("0.5,", "0.05,", 1))
    rows = load_rows(tmp_path)
    assert rows.status.tolist() == ["rejected"] and "checksum mismatch" in rows.reason[0]
    path.write_text(text[:len(text) // 2])
    assert "no checksum trailer" in load_rows(tmp_path).reason[0]


def test_a_row_cut_short_under_a_resealed_trailer_is_rejected_and_not_done(tmp_path):
    """A cell whose last line lost its trailing fields, sealed again (a copy tool that
    rewrote the trailer, a hand edit): pandas would read the lost fields as NaN, so the row
    would pass for one that measured less. It is rejected, and resume measures the cell."""
    from benchmarks.results import finished_cells, read_cell_file, sealed

    path = write_cell(tmp_path, "a", [GOOD, replace(GOOD, run=1)])
    cell = read_cell_file(path)
    lines = cell.body.splitlines(keepends=True)
    cut = lines[-1].rstrip("\n").split(",")
    lines[-1] = ",".join(cut[: len(cut) - 3]) + "\n"
    path.write_text(sealed("".join(lines), cell.sweep))
    rows = load_rows(tmp_path)
    assert rows.status.tolist() == ["ok", "rejected"]
    assert "line cut short" in rows.reason[1]
    assert finished_cells(tmp_path) == set()
    path.write_text(sealed(cell.body, cell.sweep))  # the whole row again: done
    assert finished_cells(tmp_path) == {"a"}


def test_finished_cells_reads_each_file_once_and_a_rewritten_cell_again(tmp_path, monkeypatch):
    """A sweep recounts its cells after every worker event: with the sweep's memo a cell
    file is parsed once (1,000 cells took 12 s a count without it), a cell written again
    (a new file by rename) is read again, and ``only`` reads just the cells asked about."""
    import benchmarks.results as results

    for name in ("a", "b", "c"):
        write_cell(tmp_path, name, [GOOD])
    parsed = []
    real_parse = results._parse_cell
    monkeypatch.setattr(results, "_parse_cell",
                        lambda path, body: parsed.append(path.stem) or real_parse(path, body))
    memo: dict = {}
    assert results.finished_cells(tmp_path, memo) == {"a", "b", "c"}
    assert results.finished_cells(tmp_path, memo) == {"a", "b", "c"}
    assert sorted(parsed) == ["a", "b", "c"]
    write_cell(tmp_path, "b", [replace(GOOD, status="failed", reason="crashed")])
    assert results.finished_cells(tmp_path, memo) == {"a", "c"}
    assert sorted(parsed) == ["a", "b", "b", "c"]
    parsed.clear()
    assert results.finished_cells(tmp_path, only={"c", "z"}) == {"c"} and parsed == ["c"]
