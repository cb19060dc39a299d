# shellcheck shell=bash
# flash-sd/checks.sh: the checks on files, tools and the user for bin/flash-sd.sh (sourced by it):
# the Ignition file, the image, the tools a real run needs, root, and the typed confirmation.
# The device checks are in device.sh, the firmware check in firmware.sh.

# ---------------------------------------------------------------- checks: files
check_ignition() {
  [[ -e "$IGNITION" ]] || refuse "Ignition file $IGNITION does not exist" \
    "render it first ('npm run render -- --stack homelab --out out/homelab'), then pass the node's file, e.g. --ignition out/homelab/ignition/swarm-manager-1.ign"
  [[ -f "$IGNITION" && -r "$IGNITION" ]] || refuse "Ignition file $IGNITION is not a readable regular file" \
    "pass the node's rendered .ign file"
  [[ -s "$IGNITION" ]] || refuse "Ignition file $IGNITION is empty" "re-render it with 'npm run render -- --stack homelab --out out/homelab'"
  IGNITION="$(realpath -- "$IGNITION")"

  local version="" parser=""
  if have jq; then
    parser=jq
    if ! jq -e . "$IGNITION" >/dev/null 2>&1; then version="<invalid>"; else
      version="$(jq -r 'if (type == "object") and (.ignition | type == "object") then (.ignition.version // "") else "" end' "$IGNITION")"
    fi
  elif have python3; then
    parser=python3
    version="$(python3 -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("<invalid>"); sys.exit(0)
v = d.get("ignition", {}).get("version", "") if isinstance(d, dict) and isinstance(d.get("ignition"), dict) else ""
print(v if isinstance(v, str) else "")' "$IGNITION")"
  elif have node; then
    parser=node
    version="$(node -e '
let d; try { d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); } catch (e) { console.log("<invalid>"); process.exit(0); }
const v = d && typeof d === "object" && d.ignition && typeof d.ignition === "object" ? d.ignition.version : "";
console.log(typeof v === "string" ? v : "");' "$IGNITION")"
  else
    refuse "cannot check that $IGNITION is valid JSON: none of jq, python3 or node is installed" \
      "install jq (e.g. apt-get install jq) and run again"
  fi
  [[ "$version" != "<invalid>" ]] || refuse "Ignition file $IGNITION is not valid JSON (checked with $parser)" \
    "pass the rendered .ign file (JSON), not a Butane/YAML source; re-render with 'npm run render -- --stack homelab --out out/homelab'"
  [[ -n "$version" ]] || refuse "Ignition file $IGNITION has no ignition.version" \
    "pass an Ignition config (JSON with {\"ignition\":{\"version\":\"3.3.0\"}}); re-render with 'npm run render -- --stack homelab --out out/homelab'"
  [[ "$version" == "3.3.0" ]] || refuse "Ignition file $IGNITION has ignition.version $version, expected 3.3.0" \
    "this helper expects configs rendered by this repo (spec 3.3.0); re-render with 'npm run render -- --stack homelab --out out/homelab'"

  if have ignition-validate; then
    local out
    if ! out="$(ignition-validate "$IGNITION" 2>&1)"; then
      printf '%s\n' "$out" >&2
      refuse "ignition-validate rejected $IGNITION (output above)" \
        "fix the stack config and re-render with 'npm run render -- --stack homelab --out out/homelab'"
    fi
    say "ok: $IGNITION is Ignition 3.3.0 (ignition-validate passed)"
  else
    say "ok: $IGNITION is Ignition 3.3.0 JSON (ignition-validate not on PATH; schema not checked)"
  fi
}

check_image() {
  [[ -n "$IMAGE" ]] || {
    say "ok: no --image; flatcar-install will download the $CHANNEL image and verify its GPG signature (needs internet)"
    return 0
  }
  [[ -f "$IMAGE" && -r "$IMAGE" ]] || refuse "image $IMAGE does not exist or is not readable" \
    "download it once with \"flatcar-install -D -C $CHANNEL -B $BOARD -o ''\" (GPG-verified) and pass --image flatcar_production_image.bin.bz2"
  IMAGE="$(realpath -- "$IMAGE")"
  case "$IMAGE" in
    *.bin.bz2 | *.bin) ;;
    *) refuse "image $IMAGE is neither .bin.bz2 nor .bin (flatcar-install writes anything that is not .bz2 raw to the disk)" \
      "pass flatcar_production_image.bin.bz2 as downloaded by \"flatcar-install -D -C $CHANNEL -B $BOARD -o ''\"" ;;
  esac
  if [[ "$IMAGE" == *.bz2 ]] && ! head -c 3 -- "$IMAGE" | grep -q '^BZh'; then
    refuse "image $IMAGE does not look like a bzip2 file" "re-download it with \"flatcar-install -D -C $CHANNEL -B $BOARD -o ''\""
  fi
  say "ok: image $IMAGE (flatcar-install -f does not re-verify it; use a copy downloaded with -D)"
}

# ---------------------------------------------------------------- checks: tools, root, confirmation
check_tools() {
  FLATCAR_INSTALL="${FLATCAR_INSTALL:-}"
  if [[ -z "$FLATCAR_INSTALL" ]]; then
    FLATCAR_INSTALL="$(command -v flatcar-install || true)"
  fi
  if [[ "$DRY_RUN" -eq 1 ]]; then
    FLATCAR_INSTALL="${FLATCAR_INSTALL:-flatcar-install}"
    if [[ "$LIFT_RAM_LIMIT" -eq 1 ]] && ! have virt-fw-vars; then
      warn "virt-fw-vars is not installed; a real run with --lift-ram-limit needs it (pip install virt-firmware)"
    fi
    return 0
  fi
  [[ -n "$FLATCAR_INSTALL" && -x "$FLATCAR_INSTALL" ]] || refuse "flatcar-install not found (not on PATH and FLATCAR_INSTALL unset)" \
    "download it once: wget https://raw.githubusercontent.com/flatcar/init/flatcar-master/bin/flatcar-install && chmod +x flatcar-install, then put it on PATH or set FLATCAR_INSTALL=./flatcar-install"

  # Tools flatcar-install needs (it checks most of them too, but only after you confirmed; it also uses blkid).
  local missing="" t
  for t in blockdev btrfstune cp cut dd gawk gpg grep head ls lsblk lvm mkdir mkfifo mktemp mount rm sed sort tee udevadm wget wipefs blkid umount unzip partx mountpoint; do
    have "$t" || missing+="$t "
  done
  have lbzip2 || have bzip2 || missing+="bzip2 "
  [[ "$LIFT_RAM_LIMIT" -eq 0 ]] || have virt-fw-vars || missing+="virt-fw-vars "
  [[ -z "$missing" ]] || refuse "missing tools: ${missing% }" \
    "install them (Debian/Ubuntu: apt-get install btrfs-progs lvm2 gawk gnupg wget bzip2 udev unzip util-linux; virt-fw-vars: pip install virt-firmware) and run again"

  if lsblk -nro TYPE 2>/dev/null | grep -qx lvm; then
    warn "this machine has active LVM volumes; flatcar-install runs 'lvm vgchange -an', which deactivates every volume group that is not in use."
  fi
}

check_root() {
  [[ "$DRY_RUN" -eq 1 ]] && return 0
  [[ "$EUID" -eq 0 ]] || refuse "writing $DEVICE needs root" \
    "run it with sudo: sudo bin/$PROG --device $DEVICE_ARG --ignition $IGNITION ... (or add --dry-run to only check)"
}

confirm() {
  [[ "$DRY_RUN" -eq 1 || "$ASSUME_YES" -eq 1 ]] && return 0
  say ""
  say "About to ERASE $DEVICE and install Flatcar ($CHANNEL, $BOARD) for $(basename -- "$IGNITION" .ign):"
  lsblk -o NAME,SIZE,TYPE,FSTYPE,LABEL,MODEL -- "$DEVICE" || true
  [[ -t 0 ]] || refuse "no terminal to confirm on, and --yes was not given" \
    "run it in a terminal, or pass --yes if you have double-checked $DEVICE"
  local answer
  printf 'Type the device name (%s) to continue: ' "$(basename -- "$DEVICE")"
  read -r answer || answer=""
  if [[ "$answer" != "$DEVICE" && "$answer" != "$(basename -- "$DEVICE")" ]]; then
    refuse "confirmation '$answer' does not match $DEVICE" "run again and type $(basename -- "$DEVICE") to confirm, or pick another device"
  fi
}
