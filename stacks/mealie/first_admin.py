"""Gives Mealie's first admin the password Pulumi generated, once, through Mealie's own API.

Mealie 2.4 creates its first admin on first start with a fixed password (changeme@example.com,
MyPassword) that no setting changes. Started in the background by the stack's entrypoint, this
waits for the API, logs in with that default and sets the password from the Swarm secret, then
leaves a marker in the data volume so that it never logs in again: a password the owner changes
later stays, and no failed logins count towards Mealie's lockout (SECURITY_MAX_LOGIN_ATTEMPTS).
The secret is read from its file and sent only to 127.0.0.1; nothing here prints it.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

API = "http://127.0.0.1:9000/api"
SECRET = "/run/secrets/admin_password"
MARKER = "/app/data/.homelab-first-admin-done"
# Mealie's built-in first admin (mealie/core/settings/settings.py, _DEFAULT_EMAIL and _DEFAULT_PASSWORD).
DEFAULT_EMAIL = "changeme@example.com"
DEFAULT_PASSWORD = "MyPassword"
# A Pi's first start migrates the database and loads the ingredient parser: minutes, not seconds.
WAIT_SECONDS = 30 * 60


def log(message: str) -> None:
    print(f"homelab first_admin: {message}", file=sys.stderr, flush=True)


def api_up() -> bool:
    try:
        with urllib.request.urlopen(f"{API}/app/about", timeout=5):
            return True
    except (urllib.error.URLError, OSError):
        return False


def mark_done() -> None:
    with open(MARKER, "w") as marker:
        marker.write("The first admin's password was set, or was no longer the default.\n")


def main() -> int:
    if os.path.exists(MARKER):
        return 0
    with open(SECRET) as f:
        password = f.read().strip()
    deadline = time.monotonic() + WAIT_SECONDS
    while not api_up():
        if time.monotonic() > deadline:
            log(f"the API did not answer within {WAIT_SECONDS // 60} minutes; the next start tries again")
            return 1
        time.sleep(5)
    form = urllib.parse.urlencode({"username": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{API}/auth/token", data=form), timeout=30) as resp:
            token = json.load(resp)["access_token"]
    except urllib.error.HTTPError as e:
        if e.code == 401:
            # The API answers only after the database (and the default admin) exists, so a refusal
            # means the default password is gone already: nothing to do, now or later.
            mark_done()
            log("the first admin no longer has the default password; left as it is")
            return 0
        log(f"logging in with the default password failed: HTTP {e.code}; the next start tries again")
        return 1
    body = json.dumps({"currentPassword": DEFAULT_PASSWORD, "newPassword": password}).encode()
    request = urllib.request.Request(
        f"{API}/users/password",
        data=body,
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
    except urllib.error.HTTPError as e:
        log(f"setting the password failed: HTTP {e.code}; the next start tries again")
        return 1
    mark_done()
    log(f"{DEFAULT_EMAIL} now has the password from /run/secrets/admin_password")
    return 0


if __name__ == "__main__":
    sys.exit(main())
