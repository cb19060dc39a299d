#!/bin/sh
# The official node image's entrypoint behaviour, for a `command:` written against it: `docker run
# IMAGE --version` or `docker run IMAGE app.js` runs node with those arguments, while a command
# this image has (node, sh) runs as given.
set -e

# A file that is not executable is a script for node even where dash's `command -v` finds it
# (Debian bug #874264), so it is tested apart.
case "$1" in
  -*) set -- node "$@" ;;
  *)
    if [ -z "$(command -v "$1")" ] || { [ -f "$1" ] && [ ! -x "$1" ]; }; then
      set -- node "$@"
    fi
    ;;
esac
exec "$@"
