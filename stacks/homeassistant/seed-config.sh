#!/bin/sh
# The stack's entrypoint, run by the image's sh before Home Assistant's own /init. On the first
# start only (no /config/configuration.yaml yet) it writes Home Assistant's default configuration
# with the reverse-proxy block (configuration.yaml beside the compose file) and the three files it
# includes, as Home Assistant writes them itself; without the block every request through Traefik
# gets 400. It never touches an existing file, so the configuration is the owner's to edit.
set -eu
cd /config
if [ ! -e configuration.yaml ]; then
  cp /homelab/configuration.yaml configuration.yaml
  [ -e automations.yaml ] || echo '[]' >automations.yaml
  [ -e scripts.yaml ] || : >scripts.yaml
  [ -e scenes.yaml ] || : >scenes.yaml
  echo "homelab: wrote /config/configuration.yaml (Home Assistant's default, trusting Traefik)" >&2
fi
exec /init
