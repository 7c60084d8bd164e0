"""scripts/ensure_debian_packages.sh with stand-in dpkg-query / apt-get / id / sudo commands.

The script must install what is missing (one quiet `apt-get update` first), say what to install
where it cannot, and never fail its caller.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("bash", "dirname", "sed", "grep", "mktemp", "tail", "rm", "cat")


@pytest.fixture
def project(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("bash is not available")
    scripts = tmp_path / "project" / "scripts"
    scripts.mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "ensure_debian_packages.sh", scripts)
    data = tmp_path / "project" / "histlib" / "data"
    data.mkdir(parents=True)
    (data / "debian-packages.txt").write_text(
        "# a comment\n# for: x y\nfonts-a\n\nfonts-b  # trailing comment\n# for: z\ndataset-c\n"
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return tmp_path


def stub(project, name, body):
    path = project / "bin" / name
    path.write_text("#!" + shutil.which("bash") + "\n" + body + "\n")
    path.chmod(0o755)


def run(project):
    env = {"PATH": str(project / "bin"), "HOME": str(project), "TMPDIR": str(project)}
    return subprocess.run(
        [shutil.which("bash"), str(project / "project" / "scripts" / "ensure_debian_packages.sh")],
        capture_output=True, text=True, env=env, timeout=60,
    )


def debian(project, installed, uid=0, apt_status=0):
    log = project / "apt.log"
    lines = "".join(f'echo "{p} installed"; ' for p in installed)
    stub(project, "dpkg-query", lines + 'echo "fonts-b config-files"; exit 1')
    stub(project, "apt-get", f'echo "$*" >> {log}; exit {apt_status}')
    stub(project, "id", f"echo {uid}")
    return log


def test_installs_only_the_missing_packages_after_one_update(project):
    log = debian(project, installed=["fonts-a"])
    result = run(project)
    assert result.returncode == 0
    assert log.read_text().splitlines() == [
        "update -qq", "install -y -qq --no-install-recommends fonts-b dataset-c",
    ]


def test_nothing_to_do_is_silent(project):
    log = debian(project, installed=["fonts-a", "fonts-b-ok"])
    stub(project, "dpkg-query", 'printf "fonts-a installed\\nfonts-b installed\\ndataset-c installed\\n"')
    result = run(project)
    assert result.returncode == 0 and result.stderr == "" and not log.exists()


def test_without_apt_it_says_what_to_install_and_succeeds(project):
    stub(project, "dpkg-query", "exit 1")
    stub(project, "id", "echo 0")
    result = run(project)
    assert result.returncode == 0
    assert "apt-get is not available" in result.stderr and "fonts-a fonts-b dataset-c" in result.stderr


def test_on_other_systems_it_points_to_the_readme_and_succeeds(project):
    result = run(project)  # no dpkg-query at all
    assert result.returncode == 0
    assert "not a Debian-based system" in result.stderr and "data/README.md" in result.stderr


def test_without_root_or_sudo_it_explains(project):
    log = debian(project, installed=[], uid=1000)
    result = run(project)
    assert result.returncode == 0 and "root" in result.stderr and not log.exists()


def test_a_failing_apt_get_does_not_fail_the_caller(project):
    debian(project, installed=[], apt_status=100)
    result = run(project)
    assert result.returncode == 0 and "apt-get failed" in result.stderr


def test_ensure_env_calls_the_script_without_failing_on_it():
    text = (ROOT / "scripts" / "ensure_env.sh").read_text()
    calls = [line for line in text.splitlines() if "ensure_debian_packages.sh" in line and not line.lstrip().startswith("#")]
    assert len(calls) == 1 and "|| true" in calls[0]
