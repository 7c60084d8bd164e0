"""scripts/lab.sh (JupyterLab on the project's environment) and the notebooks' kernel "histlib"."""

import hashlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

import histlib

from .conftest import stop_process_group

pytestmark = pytest.mark.slow  # real servers, browsers or whole notebooks: minutes

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "scripts" / "lab.sh"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
VENV_PYTHON = Path(sys.prefix) / "bin" / "python"

spec = importlib.util.spec_from_file_location("histlib_kernel_script", ROOT / "scripts" / "kernel.py")
kernel_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kernel_script)


def is_project_env() -> bool:
    """Whether this interpreter's environment is one scripts/ensure_env.sh built for this checkout
    and still considers current; lab.sh would otherwise rebuild it (minutes) before starting."""
    want = hashlib.sha256((ROOT / "requirements.txt").read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = Path(sys.prefix) / ".histlib-env"
    return stamp.is_file() and stamp.read_text().strip() == want


needs_project_env = pytest.mark.skipif(
    not is_project_env(), reason="not run from the environment scripts/ensure_env.sh set up (run scripts/test.sh)")


def jupyter_env(tmp_path: Path, **extra) -> dict:
    """The environment lab.sh runs in: this venv, and Jupyter's per-user directories (config,
    kernelspecs, trust database, runtime files) in tmp_path, so the test neither reads nor
    changes the user's."""
    env = dict(os.environ, HISTLIB_VENV=sys.prefix, **extra)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(tmp_path / name.lower())
    env.pop("JUPYTER_PREFER_ENV_PATH", None)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_lab(*args, env, timeout=30):
    return subprocess.run(["bash", str(LAB), *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_help_documents_the_flags_and_the_ssh_tunnel(tmp_path):
    result = run_lab("--help", env=jupyter_env(tmp_path))
    assert result.returncode == 0, result.stderr
    for flag in ("--port N", "--ip ADDR", "--remote", "--executed", "--dry-run", "HISTLIB_PROFILE"):
        assert flag in result.stdout
    assert "ssh -N -L 8888:127.0.0.1:8888" in result.stdout
    bad = run_lab("--frobnicate", env=jupyter_env(tmp_path))
    assert bad.returncode == 2 and "unknown argument: --frobnicate" in bad.stderr


@pytest.mark.parametrize("uid", [0, 1000])
def test_allow_root_is_passed_only_as_root(tmp_path, uid):
    # a stand-in `id` first on PATH answers `id -u` with the uid under test; lab.sh's own check runs
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text(f'#!/bin/sh\n[ "$1" = "-u" ] && {{ echo {uid}; exit 0; }}\nexec {shutil.which("id")} "$@"\n')
    (fake / "id").chmod(0o755)
    env = jupyter_env(tmp_path, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    port = free_port()
    result = run_lab("--dry-run", "--port", str(port), env=env)
    assert result.returncode == 0, result.stderr
    command = result.stdout.split()
    assert command[:2] == [str(VENV_PYTHON), str(ROOT / "scripts" / "lab_server.py")]
    assert ("--allow-root" in command) == (uid == 0)
    for option in ("--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--ServerApp.root_dir={ROOT / 'notebooks'}"):
        assert option in command


def test_a_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_lab("--dry-run", "--port", str(port), env=jupyter_env(tmp_path))
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr and "--port" in result.stderr
    assert run_lab("--port", "http", env=jupyter_env(tmp_path)).returncode == 2


def test_notebooks_name_the_histlib_kernel_and_carry_no_widget_state():
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        metadata = json.loads(path.read_text())["metadata"]
        assert metadata["kernelspec"]["name"] == "histlib", f"{path.name}: run python scripts/kernel.py set {path}"
        assert "widgets" not in metadata, f"{path.name}: run python scripts/kernel.py set {path}"


def test_set_kernel_rewrites_only_the_notebook_metadata(tmp_path):
    original = json.loads(NOTEBOOKS[0].read_text())
    original["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    original["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(original, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert kernel_script.set_kernel(path)
    changed = json.loads(path.read_text())
    assert changed["metadata"]["kernelspec"] == kernel_script.NOTEBOOK_KERNELSPEC
    assert "widgets" not in changed["metadata"]
    assert changed["cells"] == original["cells"] and changed["metadata"]["language_info"] == original["metadata"]["language_info"]
    assert not kernel_script.set_kernel(path)  # idempotent: a second run leaves the file alone


def test_register_installs_the_kernel_per_user_once(tmp_path):
    env = jupyter_env(tmp_path)
    first = subprocess.run([sys.executable, str(ROOT / "scripts" / "kernel.py"), "register"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    user_spec = json.loads((tmp_path / "jupyter_data_dir" / "kernels" / "histlib" / "kernel.json").read_text())
    assert user_spec["argv"][0] == sys.executable and user_spec["language"] == "python"
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "kernel.py"), "register"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stderr == ""  # nothing to do the second time


class Server:
    def __init__(self, port: int, token: str):
        self.base, self.token = f"127.0.0.1:{port}", token

    def request(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://{self.base}{path}", data=data, method=method,
                                     headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as response:
            text = response.read()
            return json.loads(text) if text else None

    def execute(self, kernel_id: str, code: str, timeout: float = 60) -> str:
        """Runs ``code`` in the kernel over the server's websocket; returns its stdout."""
        import websocket  # websocket-client, a dependency of jupyter_server

        ws = websocket.create_connection(f"ws://{self.base}/api/kernels/{kernel_id}/channels",
                                         header=[f"Authorization: token {self.token}"], timeout=timeout)
        try:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                           "msg_type": "execute_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True},
            }))
            stdout, deadline = [], time.monotonic() + timeout
            while time.monotonic() < deadline:
                message = json.loads(ws.recv())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = message["msg_type"], message["content"]
                if kind == "stream" and content["name"] == "stdout":
                    stdout.append(content["text"])
                elif kind == "error":
                    raise AssertionError("\n".join(content["traceback"]))
                elif kind == "status" and content["execution_state"] == "idle":
                    return "".join(stdout)
            raise AssertionError(f"no reply from the kernel in {timeout} s; stdout so far: {stdout}")
        finally:
            ws.close()


def start_lab(tmp_path: Path, env: dict, port: int) -> tuple[subprocess.Popen, Path]:
    """``bash scripts/lab.sh --port port`` in its own session (the whole group, bash and then the
    server it execs, is stopped at the end), its output in ``tmp_path / "lab.log"``."""
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        process = subprocess.Popen(["bash", str(LAB), "--port", str(port)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return process, log


def wait_until_serving(process: subprocess.Popen, log: Path, server: "Server", port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"lab.sh exited with {process.returncode}:\n{log.read_text()}"
        try:
            server.request("GET", "/api/status")
            return
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, f"no answer on port {port} in {timeout:.0f} s:\n{log.read_text()}"
            time.sleep(0.5)


def stop_lab(process: subprocess.Popen, log: Path) -> None:
    """SIGTERM to the server's group; a server that ignores it for 30 s is killed and fails the test."""
    if not stop_process_group(process, timeout=30):
        pytest.fail(f"the server ignored SIGTERM for 30 s:\n{log.read_text()}")


@needs_project_env
def test_lab_serves_the_notebooks_on_the_projects_kernel(tmp_path):
    port, token = free_port(), uuid.uuid4().hex
    env = jupyter_env(tmp_path, JUPYTER_TOKEN=token, HISTLIB_PROFILE="small", HISTLIB_RUNS=str(tmp_path / "runs"))
    process, log = start_lab(tmp_path, env, port)
    server = Server(port, token)
    try:
        wait_until_serving(process, log, server, port)
        printed = log.read_text()
        assert f"http://127.0.0.1:{port}/lab?token={token}" in printed
        # exec: the process lab.sh started as is now the server, so Ctrl-C and SIGTERM reach it
        assert b"lab_server.py" in Path(f"/proc/{process.pid}/cmdline").read_bytes()

        specs = server.request("GET", "/api/kernelspecs")
        assert specs["default"] == "histlib"
        assert Path(specs["kernelspecs"]["histlib"]["spec"]["argv"][0]) == VENV_PYTHON
        user_spec = tmp_path / "jupyter_data_dir" / "kernels" / "histlib" / "kernel.json"
        assert json.loads(user_spec.read_text())["argv"][0] == str(VENV_PYTHON)  # for a JupyterLab elsewhere

        listed = {item["name"] for item in server.request("GET", "/api/contents")["content"]}
        assert {path.name for path in NOTEBOOKS} <= listed  # served from notebooks/
        for path in NOTEBOOKS:  # trusted, so JupyterLab renders their widget and HTML outputs
            cells = server.request("GET", f"/api/contents/{path.name}")["content"]["cells"]
            assert all(cell["metadata"].get("trusted") for cell in cells if cell["cell_type"] == "code"), path.name

        # what opening a notebook in JupyterLab does: a session on its path, with its kernel
        session = server.request("POST", "/api/sessions", {"path": NOTEBOOKS[1].name, "type": "notebook",
                                                           "name": NOTEBOOKS[1].name, "kernel": {"name": "histlib"}})
        try:
            assert session["kernel"]["name"] == "histlib"
            output = server.execute(session["kernel"]["id"], (
                "import json, os, sys, histlib\n"
                "from histlib.workbook import RUNS, notebook_config\n"
                "print(sys.executable); print(histlib.__file__); print(os.getcwd())\n"
                "print(os.environ['HISTLIB_PROFILE']); print(RUNS)\n"
                "print(json.dumps(notebook_config('cub', 'small', seed=1).to_dict()))"))
        finally:
            server.request("DELETE", f"/api/sessions/{session['id']}")
        executable, module, cwd, profile, runs, config = output.split("\n")[:6]
        assert Path(executable) == VENV_PYTHON
        assert module == histlib.__file__  # the same histlib as this environment's (the checkout's)
        assert Path(cwd) == ROOT / "notebooks"
        assert (profile, runs) == ("small", str(tmp_path / "runs"))  # passed through to the notebooks
        # the run a notebook asks for is the one it asked for when scripts/main.sh executed it (from
        # another process and working directory): load_or_train compares exactly this dict, so
        # opening the notebook after main.sh loads that run instead of retraining it
        elsewhere = subprocess.run(
            [sys.executable, "-c", "import json; from histlib.workbook import notebook_config\n"
             "print(json.dumps(notebook_config('cub', 'small', seed=1).to_dict()))"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True)
        assert json.loads(config) == json.loads(elsewhere.stdout)
    finally:
        stop_lab(process, log)
    assert process.returncode is not None
    with pytest.raises(OSError):  # nothing listens any more
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def status_without_token(port: int, path: str = "/api/contents") -> int:
    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with urllib.request.build_opener(Keep).open(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@needs_project_env
@pytest.mark.parametrize("config_file", ["jupyter_server_config.json", "jupyter_config.json",
                                         "jupyter_lab_config.json"])
def test_a_jupyter_config_without_a_token_cannot_open_the_server(tmp_path, config_file):
    """A user config that sets an empty token (no authentication): the server keeps lab.sh's token,
    and a request without it is refused, on a live server."""
    port, token = free_port(), uuid.uuid4().hex
    env = jupyter_env(tmp_path, JUPYTER_TOKEN=token, HISTLIB_RUNS=str(tmp_path / "runs"))
    config_dir = Path(env["JUPYTER_CONFIG_DIR"])
    config_dir.mkdir(parents=True)
    (config_dir / config_file).write_text(json.dumps({
        "IdentityProvider": {"token": ""}, "ServerApp": {"token": "", "password": "", "disable_check_xsrf": True}}))
    process, log = start_lab(tmp_path, env, port)
    server = Server(port, token)
    try:
        wait_until_serving(process, log, server, port)
        assert status_without_token(port) == 403  # refused without the token
        assert status_without_token(port, "/api/kernels") == 403
        assert isinstance(server.request("GET", "/api/contents")["content"], list)  # the printed token works
        assert f"/lab?token={token}" in log.read_text()
    finally:
        stop_lab(process, log)


def test_the_launcher_stops_a_server_that_answers_without_the_token(tmp_path, monkeypatch, capsys):
    """lab_server.py's own check, against a stand-in server that answers anyone."""
    import http.server

    spec = importlib.util.spec_from_file_location("histlib_lab_server", ROOT / "scripts" / "lab_server.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)

    class Open(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Open)
    threading = __import__("threading")
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    exits = []
    monkeypatch.setattr(launcher.os, "_exit", lambda code: exits.append(code))
    try:
        launcher._check_unauthenticated_is_refused("127.0.0.1", httpd.server_address[1], "/")
    finally:
        httpd.shutdown()
    assert exits == [3]
    assert "answered a request without the token (HTTP 200)" in capsys.readouterr().err


@pytest.mark.parametrize("token, message", [("short", "at least 16 characters (it has 5)"),
                                            ("a-long-token-with&amp;#", "only letters, digits")])
def test_a_bad_token_is_refused_before_any_url_is_printed(tmp_path, token, message):
    result = run_lab("--port", str(free_port()), env=jupyter_env(tmp_path, JUPYTER_TOKEN=token))
    assert result.returncode == 2 and message in result.stderr
    assert "token=" not in result.stdout + result.stderr and "open in your browser" not in result.stdout
