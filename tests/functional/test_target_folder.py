"""A target folder the run cannot write (read-only, or a path through a file: tests run as
root, whom a read-only mode does not stop) is one clear error naming the folder and
--target-path, exit 2, never an internal error; a sync finds it before sending anything."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("mode", "written"), [("--dry-run", "pendo_sync_plan.json"), ("", "pendo_sync_rejected.jsonl")]
)
def test_a_target_folder_that_cannot_be_written_is_named_with_the_way_out(
    sample, emulator, tmp_path, mode, written
):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    folder = blocker / "target"
    manifest = sample.path / "target" / "manifest.json"

    result = sample.sync(
        *([mode] if mode else []),
        "--manifest",
        str(manifest),
        "--target-path",
        str(folder),
        emulator=emulator,
    )

    assert result.code == 2, result.output
    assert (
        f"Error: cannot write {written} in {folder}: Not a directory. Make that folder writable"
        in result.stderr
    )
    assert "point --target-path (DBT_TARGET_PATH) at a folder this user can write" in result.stderr
    assert "Internal error" not in result.output and "Traceback" not in result.output
    assert emulator.write_calls() == 0  # the sync stopped before sending anything
    assert blocker.read_text() == "not a folder"
