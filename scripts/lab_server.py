"""JupyterLab with an access token that no Jupyter configuration can take away (run by scripts/lab.sh).

The token comes from the environment (JUPYTER_TOKEN, set by lab.sh: never on the command line, where
other users' ``ps`` would see it). A user's or the system's Jupyter config may set another token,
an empty one (no authentication at all) or another identity provider; after the server is
configured, this launcher puts the printed token back, and once it listens, it asks its own API
without a token: if that request is answered, the server is stopped before anyone else can use it.

    python scripts/lab_server.py [JupyterLab's options]
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request


def _refuse(message: str) -> None:
    print(f"histlib: {message}; the server is stopped (nothing was served)", file=sys.stderr, flush=True)
    os._exit(3)


def _no_redirect() -> urllib.request.OpenerDirector:
    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None  # a redirect to the login page is a refusal: report it as such

    return urllib.request.build_opener(Keep)


def _check_unauthenticated_is_refused(host: str, port: int, base_url: str, timeout: float = 120.0) -> None:
    """Ask the server's contents API without a token; stop the process if it answers."""
    url = f"http://{host}:{port}{base_url.rstrip('/')}/api/contents"
    opener, deadline = _no_redirect(), time.monotonic() + timeout
    while True:
        try:
            with opener.open(url, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                _refuse(f"could not check that {url} refuses requests without the token")
            time.sleep(0.2)
            continue
        if 200 <= status < 300:
            _refuse(f"{url} answered a request without the token (HTTP {status}): a Jupyter config "
                    "disables authentication")
        return


def main(argv: list[str]) -> None:
    from jupyter_server.auth.identity import IdentityProvider
    from jupyterlab.labapp import LabApp

    token = os.environ.get("JUPYTER_TOKEN", "")
    if len(token) < 16 or not re.fullmatch(r"[A-Za-z0-9._~-]+", token):
        print("histlib: JUPYTER_TOKEN must hold an access token of at least 16 letters, digits or . _ ~ - "
              "(scripts/lab.sh sets one)", file=sys.stderr)
        sys.exit(2)
    server = LabApp.initialize_server(argv=argv)
    provider = server.identity_provider
    if not isinstance(provider, IdentityProvider):
        _refuse(f"the Jupyter config replaces the identity provider with {type(provider).__name__}")
    if provider.token != token:
        print("histlib: a Jupyter config sets another access token (or none); this server uses the one "
              "printed above", file=sys.stderr, flush=True)
        provider.token = token
        provider.token_generated = False
        server.tornado_settings["token"] = token
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(server.ip, server.ip)
    host = f"[{host}]" if ":" in host else host
    threading.Thread(target=_check_unauthenticated_is_refused, args=(host, server.port, server.base_url),
                     daemon=True).start()
    server.start()


if __name__ == "__main__":
    main(sys.argv[1:])
