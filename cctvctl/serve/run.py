"""Run the API under uvicorn: TLS when given a certificate, graceful stop on SIGTERM."""

from __future__ import annotations

from cctvctl.errors import UsageError


def serve(config, host: str, port: int, certfile: str | None = None, keyfile: str | None = None,
          graceful_s: float = 30.0) -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests finish (an import commits or rolls back
    whole) within ``graceful_s`` seconds."""
    try:
        import uvicorn
    except ImportError:
        raise UsageError("cctvctl serve needs its extra: pip install 'cctvctl[serve]'") from None
    from cctvctl.serve.app import create_app

    if bool(certfile) != bool(keyfile):
        raise UsageError("give both --certfile and --keyfile for TLS (or neither)")
    if certfile:
        _check_tls(certfile, keyfile)
    import socket
    import sys

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, ssl_certfile=certfile, ssl_keyfile=keyfile,
        log_config=None, access_log=False, server_header=False, date_header=True,
        timeout_keep_alive=5, timeout_graceful_shutdown=graceful_s, lifespan="on",
        proxy_headers=False))
    scheme = "https" if certfile else "http"
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL is bracketed
    sys.stderr.write(f"cctvctl serve: listening on {scheme}://{shown}:{bound}\n")
    sys.stderr.flush()
    # uvicorn re-raises the SIGTERM it handled after its graceful stop; the CLI's own handler
    # would turn that into exit 143. A stop asked for and carried out is a success (exit 0).
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run(sockets=[sock])


def _check_tls(certfile: str, keyfile: str) -> None:
    """Load the certificate and key now, so a wrong file is one line (exit 2) before the
    server says it is listening — not an error after a supervisor was told it is up."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except FileNotFoundError as exc:
        raise UsageError(f"--certfile/--keyfile: no such file {exc.filename or certfile!r}") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or "unreadable"
        raise UsageError(f"--certfile {certfile!r} / --keyfile {keyfile!r}: not a usable PEM "
                         f"certificate and key ({reason})") from None
