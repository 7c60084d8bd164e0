#!/usr/bin/env bash
# Opens the workbook: JupyterLab in notebooks/ on the project's environment (the notebooks' kernel
# "histlib" is that environment's python). Creates or refreshes the environment first, like
# scripts/main.sh and scripts/test.sh (see scripts/ensure_env.sh). `bash scripts/lab.sh --help`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

usage() {
  cat <<'EOF'
usage: bash scripts/lab.sh [--port N] [--ip ADDR] [--remote] [--executed] [--dry-run] [--help]

Starts JupyterLab on the project's environment, serving notebooks/ (the committed notebooks: open
one and Run All; runs that scripts/main.sh already trained under runs/ are loaded, not retrained).
Prints the URL to open, with its access token. Ctrl-C stops the server. No browser is started.

  --port N      port to listen on (default: 8888, or the first free one above it; a port given
                here that is in use is an error)
  --ip ADDR     address to listen on (default: 127.0.0.1, reachable from this machine only).
                --ip 0.0.0.0 opens the server, guarded only by its token, to the whole network;
                on a remote machine prefer --remote
  --remote      the server runs on a machine you reach by SSH: keeps listening on 127.0.0.1 and
                prints the tunnel to open from your own computer, e.g.
                    ssh -N -L 8888:127.0.0.1:8888 you@remote-host
                after which the printed URL works in your local browser
  --executed    serve build/notebooks/ (the copies scripts/main.sh executed, outputs included)
                instead of notebooks/
  --dry-run     print the command that would run and exit (sets nothing up, starts nothing)
  -h, --help    this text

Environment: HISTLIB_PROFILE (small | full), HISTLIB_DATA and HISTLIB_RUNS reach the notebooks
unchanged; HISTLIB_VENV selects the environment; JUPYTER_TOKEN fixes the access token (default:
a new random one at each start).
EOF
}

die() {
  echo "histlib: $*" >&2
  exit 2
}

port="" ip="127.0.0.1" remote=0 executed=0 dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) [ $# -ge 2 ] || die "--port needs a number"; port="$2"; shift 2 ;;
    --port=*) port="${1#*=}"; shift ;;
    --ip) [ $# -ge 2 ] || die "--ip needs an address"; ip="$2"; shift 2 ;;
    --ip=*) ip="${1#*=}"; shift ;;
    --remote) remote=1; shift ;;
    --executed) executed=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
if [ -n "$port" ]; then
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "--port must be a number from 1 to 65535, got '$port'"
fi
[ -n "$ip" ] || die "--ip needs an address"

if [ "$executed" = 1 ]; then
  notebook_dir="$root/build/notebooks"
  compgen -G "$notebook_dir/[0-9][0-9]_*.ipynb" >/dev/null \
    || die "no executed notebooks in build/notebooks/: run 'bash scripts/main.sh' first, or drop --executed"
else
  notebook_dir="$root/notebooks"
fi

# A token of the user's (JUPYTER_TOKEN) is checked before anything is set up or printed: the URL
# below must be one that opens the server. lab_server.py applies the same rule.
if [ -n "${JUPYTER_TOKEN+set}" ]; then
  [ "${#JUPYTER_TOKEN}" -ge 16 ] \
    || die "JUPYTER_TOKEN must hold an access token of at least 16 characters (it has ${#JUPYTER_TOKEN}); unset it to get a random one"
  [[ "$JUPYTER_TOKEN" =~ ^[A-Za-z0-9._~-]+$ ]] \
    || die "JUPYTER_TOKEN may hold only letters, digits and . _ ~ - (it goes into the URL as it is); unset it to get a random one"
fi

if [ "$dry_run" = 0 ]; then
  source scripts/ensure_env.sh  # sets $venv, creating the environment if needed; registers the kernel "histlib"
else
  venv="${HISTLIB_VENV:-$root/.venv}"  # ensure_env.sh's rule, without setting anything up
fi
py="$venv/bin/python"
[ -x "$py" ] || py=python3  # (--dry-run before any set-up) the port probe and token need any python 3

# Pick the port here (after the set-up, which can take minutes) rather than letting the server retry
# on its own: the URL printed below must name the port the server gets. The probe binds the way the server does (SO_REUSEADDR), so a port
# the server could take is not reported busy. Exit 1: in use; 3: the address itself is unusable.
probe='
import errno, socket, sys
ip, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    family = socket.getaddrinfo(ip, None, proto=socket.IPPROTO_TCP)[0][0]
except OSError as error:
    print(f"histlib: cannot listen on {ip!r}: {error}", file=sys.stderr)
    sys.exit(3)
for port in range(first, last + 1):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                continue
            print(f"histlib: cannot listen on {ip} port {port}: {error.strerror}", file=sys.stderr)
            sys.exit(3)
    print(port)
    sys.exit(0)
sys.exit(1)
'
if [ -n "$port" ]; then
  status=0
  "$py" -c "$probe" "$ip" "$port" "$port" >/dev/null || status=$?
  [ "$status" -eq 1 ] && die "port $port on $ip is in use (another JupyterLab? 'jupyter server list' shows them); choose another with --port, or leave --port out to take the first free one"
  [ "$status" -eq 0 ] || exit 2
else
  status=0
  port="$("$py" -c "$probe" "$ip" 8888 8987)" || status=$?
  [ "$status" -eq 1 ] && die "ports 8888-8987 on $ip are all in use; choose one with --port"
  [ "$status" -eq 0 ] || exit 2
fi

# HISTLIB_PROFILE, HISTLIB_DATA and HISTLIB_RUNS are not touched: the kernels inherit the server's
# environment, and histlib.workbook resolves data/ and runs/ from the repository, not from the
# working directory, so a notebook opened here finds what papermill (scripts/main.sh) trained.
# scripts/lab_server.py is JupyterLab that keeps the printed token whatever a Jupyter config says,
# and stops itself if its API answers a request without the token.
cmd=(
  "$venv/bin/python" "$root/scripts/lab_server.py"
  --no-browser                                   # headless machines; the URL is printed instead
  "--ip=$ip" "--port=$port"
  --ServerApp.port_retries=0                     # the port probed above, or fail, never another
  "--ServerApp.root_dir=$notebook_dir"
  --ServerApp.answer_yes=True                    # one Ctrl-C stops it (no "Shut down? (y/[n])")
  --MappingKernelManager.default_kernel_name=histlib  # new notebooks get the project's kernel too
  --LabApp.news_url=None                         # no announcement toasts (and no feed fetch)
  --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate
)
# Jupyter refuses to run as root without --allow-root (containers, CI); never pass it otherwise.
if [ "$(id -u)" -eq 0 ]; then
  cmd+=(--allow-root)
fi

if [ "$dry_run" = 1 ]; then
  printf '%q ' "${cmd[@]}"
  echo
  exit 0
fi

# The token travels in the environment, not on the command line, where other users' `ps` would
# see it. jupyter_server reads JUPYTER_TOKEN itself; lab_server.py restores it where a config changed it.
export JUPYTER_TOKEN="${JUPYTER_TOKEN:-$("$py" -c 'import secrets; print(secrets.token_hex(24))')}"

# Committed notebooks open "untrusted" (their signatures are not in this user's database), and
# JupyterLab then shows widget outputs as plain text. Trusting them at every start (cheap) records
# their current contents in the signature database the server reads (jupyter --data-dir).
trust=("$root"/notebooks/*.ipynb)
compgen -G "$root/build/notebooks/*.ipynb" >/dev/null && trust+=("$root"/build/notebooks/*.ipynb)
"$venv/bin/python" -m nbformat.sign "${trust[@]}" >/dev/null \
  || echo "histlib: could not mark the notebooks trusted; use File -> Trust Notebook in JupyterLab" >&2

url_host="$ip"
case "$ip" in 0.0.0.0 | "::" | "") url_host="$(hostname -f 2>/dev/null || hostname)" ;; esac
[[ "$url_host" == *:* ]] && url_host="[$url_host]"  # an IPv6 address in a URL
url="http://$url_host:$port/lab?token=$JUPYTER_TOKEN"
where="${notebook_dir#"$root"/}/"
echo "histlib: JupyterLab for $where on $venv (kernel \"histlib\"), profile ${HISTLIB_PROFILE:-small}"
echo "histlib: open a notebook and Run All (Run -> Run All Cells): its sliders and pickers work only once run"
if [ "$remote" = 1 ]; then
  tunnel_host="$ip"
  case "$ip" in 0.0.0.0 | "::") tunnel_host="127.0.0.1" ;; esac
  [[ "$tunnel_host" == *:* ]] && tunnel_host="[$tunnel_host]"
  echo "histlib: on your own computer, open a tunnel to this machine (leave it running):"
  echo "    ssh -N -L $port:$tunnel_host:$port ${USER:-$(id -un)}@$(hostname -f 2>/dev/null || hostname)"
  echo "histlib: then open in your browser there:"
  url="http://127.0.0.1:$port/lab?token=$JUPYTER_TOKEN"
else
  case "$ip" in
    127.* | localhost | ::1) ;;
    *) echo "histlib: listening on $ip: anyone who can reach this port and knows the token can run code here" ;;
  esac
  echo "histlib: open in your browser:"
fi
echo "    $url"
echo "histlib: Ctrl-C stops the server"
# from the served folder: kernels started without a notebook (consoles) begin there too
cd "$notebook_dir"
exec "${cmd[@]}"
