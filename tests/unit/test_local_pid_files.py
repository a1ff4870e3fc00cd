"""The local scripts' pid files (deploy/local/common.sh): `make stop` signals only what they
started, never a process that took a stale file's pid after a reboot."""

import subprocess
from pathlib import Path

from tests.conftest import ROOT

SCRIPT = """
source deploy/local/common.sh
sleep 30 & record_pid $! "$FLARE_LOCAL_DIR/live.pid"
pid=$(pid_of "$FLARE_LOCAL_DIR/live.pid")
echo "$pid 1" >"$FLARE_LOCAL_DIR/reused.pid"   # the same pid, started at another time
echo "$pid" >"$FLARE_LOCAL_DIR/older.pid"      # an older checkout's file: the pid alone
printf %s "$pid" >"$FLARE_LOCAL_DIR/bare.pid"  # written by hand, no newline at the end
for file in live reused older bare; do
  if is_running "$FLARE_LOCAL_DIR/$file.pid"; then echo "$file running"; else echo "$file not"; fi
done
kill "$pid"
"""


def test_a_pid_file_names_its_own_process_not_one_that_reused_the_pid(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", "-c", SCRIPT],
        cwd=ROOT,
        env={"FLARE_LOCAL_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "live running",
        "reused not",
        "older running",
        "bare running",
    ]
