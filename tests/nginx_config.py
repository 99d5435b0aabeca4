"""The compose nginx configuration, rewritten to run on this machine."""

from __future__ import annotations

import re
import string
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def local_nginx_config(prefix: Path, listen: str, gateways: list[int]) -> Path:
    """The compose nginx configuration, pointed at local gateways and a local port."""
    nginx = REPO / "docker" / "nginx"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    upstreams = re.sub(
        r"(?m)^\s*server gateway-\d+:8000.*\n", "", (nginx / "upstreams.conf").read_text()
    ).replace(
        "least_conn;", "least_conn;\n" + "".join(f"    server 127.0.0.1:{p};\n" for p in gateways)
    )
    site = (nginx / "techgear.conf").read_text().replace("listen 80;", f"listen {listen};")
    site = site.replace("/var/log/nginx/", f"{prefix}/logs/")
    main = f"""
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    {(nginx / "log-format.conf").read_text()}
    {upstreams}
    {site}
}}
"""
    config = prefix / "nginx.conf"
    config.write_text(main)
    return config


def local_chroma_proxy_config(prefix: Path, listen: str, upstream: str, token: str) -> Path:
    """The Chroma proxy's template rendered as the nginx image renders it (only the named
    variables are replaced, nginx's own stay), listening on ``listen``."""
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    template = (REPO / "docker" / "nginx" / "chroma-auth.conf.template").read_text()
    site = (
        string.Template(template)
        .safe_substitute(CHROMA_AUTH_TOKEN=token, CHROMA_UPSTREAM=upstream)
        .replace("listen 8000;", f"listen {listen};")
        .replace("/var/log/nginx/", f"{prefix}/logs/")
    )
    config = prefix / "nginx.conf"
    config.write_text(
        f"""
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    {site}
}}
"""
    )
    return config
