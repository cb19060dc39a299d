#!/usr/bin/env bash
# flash-sd.sh: write one homelab node to an SD card (or USB disk) for a Raspberry Pi 4,
# following Flatcar's Raspberry Pi 4 guide:
#
#   1. flatcar-install -d DEV -C CHANNEL -B arm64-usr -o '' -i NODE.ign [-f IMAGE]
#   2. mount the EFI-SYSTEM partition (partition 1) and unzip the pinned
#      pftf/RPi4 UEFI firmware into its root
#   3. optionally lift the firmware's 3 GB RAM limit with virt-fw-vars
#
# Every safety check runs before anything is written: the Ignition file must be
# valid Ignition 3.3.0 JSON; the device must be a whole disk (or loop device),
# at least 8 GB, not the system disk, not mounted, not used as swap and not held
# by device-mapper, LVM or RAID; the firmware zip must match a pinned sha256. Real
# runs also need root and ask you to type the device name (unless --yes).
# --dry-run runs every check and prints the commands it would run, changing nothing.
#
# Exit codes: 0 ok, 1 a step failed, 2 usage error, 3 refused by a safety check.
# See docs/flashing.md for the whole procedure, from a blank card to a booted Pi.
set -euo pipefail

readonly PROG="flash-sd.sh"
readonly MIN_BYTES=8000000000 # "at least 8 GB of usable space" (Flatcar, installing-to-disk)
readonly BOARD="arm64-usr"
readonly RECOMMENDED_FIRMWARE="v1.41"
readonly FIRMWARE_RELEASES="https://github.com/pftf/RPi4/releases"
# GUID of the pftf/RPi4 configuration variables (RPi4.dsc / Readme.md).
readonly RPI_VARS_GUID="cd7cc258-31db-22e6-9f22-63b0b8eed6b5"

# Pinned pftf/RPi4 UEFI firmware zips: "version sha256-of-the-zip-file".
# v1.41: community reports say it boots Flatcar; the same hash is pinned by
# Siemens' MTDA Isar layer (recipe rpi4-edk2-firmware). Add a row only after you
# have checked the hash against the release page and booted the version yourself.
readonly FIRMWARE_PINS=(
  "v1.41 d2a97e36665920dbb5a6aea200e48fc59b1e26cf94a478db7f57833118c2b64a"
)
# Versions with reported problems (warned about even with --firmware-sha256).
firmware_known_problem() {
  case "$1" in
    v1.52) echo "reported to hang at the Raspberry Pi logo with Flatcar" ;;
    v1.37 | v1.3[0-6] | v1.[0-2]*) echo "reported too old for current Pi 4 EEPROMs" ;;
    *) echo "" ;;
  esac
}

usage() {
  cat <<EOF
Usage: bin/$PROG --device /dev/sdX --ignition out/homelab/ignition/swarm-manager-1.ign
                   [--image flatcar_production_image.bin.bz2]
                   [--firmware RPi4_UEFI_Firmware_v1.41.zip [--firmware-sha256 HEX]]
                   [--lift-ram-limit] [--channel stable] [--dry-run] [--yes]
       bin/$PROG --help

Writes Flatcar Container Linux (arm64) with one node's Ignition config to a whole
disk (SD card or USB disk) for a Raspberry Pi 4, then installs the pftf/RPi4 UEFI
firmware into the EFI-SYSTEM partition. ALL DATA ON THE DEVICE IS DESTROYED.

Options:
  --device DEV         whole disk to overwrite, e.g. /dev/sdb or /dev/mmcblk0
                       (/dev/disk/by-id/... links are resolved)
  --ignition FILE      the node's Ignition file (spec 3.3.0), from 'npm run render -- --stack homelab --out out/homelab'
  --image FILE         install this local image offline (flatcar-install -f);
                       get a GPG-verified copy with "flatcar-install -D -C stable -B arm64-usr -o ''".
                       Without --image, flatcar-install downloads and verifies one.
  --channel NAME       stable (default), beta, alpha or lts
  --firmware ZIP       pftf/RPi4 UEFI firmware zip you downloaded once;
                       recommended: RPi4_UEFI_Firmware_${RECOMMENDED_FIRMWARE}.zip.
                       Its sha256 must match the pinned table in this script.
                       Without it the card will NOT boot a Pi 4 (a warning is shown).
  --firmware-sha256 HEX  accept a firmware zip that is not pinned, if its sha256
                       equals HEX (check HEX against the release page yourself)
  --lift-ram-limit     set RamLimitTo3GB=0 in RPI_EFI.fd with virt-fw-vars
                       (pip install virt-firmware), so 4/8 GB Pis use all RAM
  --dry-run            run every check, print each command as 'would run: ...',
                       change nothing (needs neither root nor flatcar-install)
  --yes                do not ask you to type the device name
  -h, --help           show this help

Environment:
  FLATCAR_INSTALL      path to flatcar-install (default: found on PATH)
  FLASH_SD_MOUNT_DIR   where to mount EFI-SYSTEM (default: /run/flash-sd/<dev>-efi)

Exit codes: 0 ok, 1 a step failed, 2 usage error, 3 refused by a safety check.
EOF
}

# ---------------------------------------------------------------- messages
say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
step() { printf '\n==> %s\n' "$*"; }

usage_error() {
  printf '%s: %s\n' "$PROG" "$1" >&2
  printf "Run 'bin/%s --help' for usage.\n" "$PROG" >&2
  exit 2
}

# refuse PROBLEM NEXT-STEP: a safety check failed; nothing was changed.
refuse() {
  printf 'refused: %s\n' "$1" >&2
  printf 'next: %s\n' "$2" >&2
  printf 'Nothing was written.\n' >&2
  exit 3
}

# fail PROBLEM NEXT-STEP: a step failed while writing.
fail() {
  printf 'error: %s\n' "$1" >&2
  printf 'next: %s\n' "$2" >&2
  exit 1
}

human_size() {
  awk -v b="$1" 'BEGIN { printf "%.1f GiB (%.1f GB)", b / 1073741824, b / 1000000000 }'
}

# ---------------------------------------------------------------- arguments
DEVICE_ARG=""
IGNITION=""
IMAGE=""
FIRMWARE=""
FIRMWARE_SHA256=""
CHANNEL="stable"
DRY_RUN=0
ASSUME_YES=0
LIFT_RAM_LIMIT=0

need_value() {
  # need_value OPTION COUNT-OF-REMAINING-ARGS
  [[ "$2" -ge 2 ]] || usage_error "option $1 needs a value"
}

while [[ $# -gt 0 ]]; do
  opt="$1"
  value=""
  has_inline=0
  if [[ "$opt" == --*=* ]]; then
    value="${opt#*=}"
    opt="${opt%%=*}"
    has_inline=1
  fi
  case "$opt" in
    -h | --help)
      usage
      exit 0
      ;;
    --dry-run) DRY_RUN=1 ;;
    --yes | -y) ASSUME_YES=1 ;;
    --lift-ram-limit) LIFT_RAM_LIMIT=1 ;;
    --device | --ignition | --image | --firmware | --firmware-sha256 | --channel)
      if [[ "$has_inline" -eq 0 ]]; then
        need_value "$opt" "$#"
        value="$2"
        shift
      fi
      [[ -n "$value" ]] || usage_error "option $opt needs a non-empty value"
      case "$opt" in
        --device) DEVICE_ARG="$value" ;;
        --ignition) IGNITION="$value" ;;
        --image) IMAGE="$value" ;;
        --firmware) FIRMWARE="$value" ;;
        --firmware-sha256) FIRMWARE_SHA256="$value" ;;
        --channel) CHANNEL="$value" ;;
      esac
      ;;
    *) usage_error "unknown option or argument: $1" ;;
  esac
  if [[ "$has_inline" -eq 1 ]]; then
    case "$opt" in
      --dry-run | --yes | --lift-ram-limit) usage_error "option $opt takes no value" ;;
    esac
  fi
  shift
done

[[ -n "$DEVICE_ARG" ]] || usage_error "missing --device (the whole disk to overwrite, e.g. /dev/sdb)"
[[ -n "$IGNITION" ]] || usage_error "missing --ignition (the node's .ign file, e.g. out/homelab/ignition/swarm-manager-1.ign)"
case "$CHANNEL" in
  stable | beta | alpha | lts) ;;
  *) usage_error "unknown --channel '$CHANNEL' (use stable, beta, alpha or lts)" ;;
esac
if [[ -n "$FIRMWARE_SHA256" ]]; then
  FIRMWARE_SHA256="${FIRMWARE_SHA256,,}"
  [[ "$FIRMWARE_SHA256" =~ ^[0-9a-f]{64}$ ]] || usage_error "--firmware-sha256 must be 64 hex digits"
  [[ -n "$FIRMWARE" ]] || usage_error "--firmware-sha256 only makes sense with --firmware"
fi
if [[ "$LIFT_RAM_LIMIT" -eq 1 && -z "$FIRMWARE" ]]; then
  usage_error "--lift-ram-limit edits the firmware's RPI_EFI.fd, so it needs --firmware"
fi

# ---------------------------------------------------------------- commands
# run CMD ARGS...: print and run, or in a dry run only print "would run: ..."
print_cmd() {
  local out="" arg
  for arg in "$@"; do
    out+="$(printf '%q' "$arg") "
  done
  printf '%s\n' "${out% }"
}

run() {
  if [[ "$DRY_RUN" -eq 1 ]]; then
    printf 'would run: %s\n' "$(print_cmd "$@")"
  else
    printf '+ %s\n' "$(print_cmd "$@")"
    "$@"
  fi
}

have() { command -v "$1" >/dev/null 2>&1; }

sha256_of() {
  if have sha256sum; then
    sha256sum -- "$1" | awk '{ print $1 }'
  elif have shasum; then
    shasum -a 256 -- "$1" | awk '{ print $1 }'
  else
    refuse "neither sha256sum nor shasum is installed, so the firmware cannot be verified" \
      "install coreutils (sha256sum) and run again"
  fi
}

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

FIRMWARE_VERSION=""
check_firmware() {
  if [[ -z "$FIRMWARE" ]]; then
    warn "no --firmware given: the card gets Flatcar but NOT the pftf/RPi4 UEFI firmware, and a Pi 4 will not boot it."
    warn "download RPi4_UEFI_Firmware_${RECOMMENDED_FIRMWARE}.zip from $FIRMWARE_RELEASES and pass --firmware (see docs/flashing.md)."
    return 0
  fi
  [[ -f "$FIRMWARE" && -r "$FIRMWARE" ]] || refuse "firmware zip $FIRMWARE does not exist or is not readable" \
    "download RPi4_UEFI_Firmware_${RECOMMENDED_FIRMWARE}.zip once from $FIRMWARE_RELEASES/tag/${RECOMMENDED_FIRMWARE} and pass its path"
  FIRMWARE="$(realpath -- "$FIRMWARE")"

  local actual pinned="" name_version="" row
  actual="$(sha256_of "$FIRMWARE")"
  for row in "${FIRMWARE_PINS[@]}"; do
    if [[ "${row#* }" == "$actual" ]]; then pinned="${row%% *}"; fi
  done
  if [[ "$(basename -- "$FIRMWARE")" =~ (v[0-9]+\.[0-9]+) ]]; then name_version="${BASH_REMATCH[1]}"; fi

  if [[ -n "$FIRMWARE_SHA256" ]]; then
    [[ "$actual" == "$FIRMWARE_SHA256" ]] || refuse "firmware $FIRMWARE has sha256 $actual, but --firmware-sha256 says $FIRMWARE_SHA256" \
      "the download is corrupt or is not the file you meant: download it again from $FIRMWARE_RELEASES and compare with the digest on the release page"
  fi
  if [[ -n "$pinned" ]]; then
    FIRMWARE_VERSION="$pinned"
    if [[ -n "$name_version" && "$name_version" != "$pinned" ]]; then
      warn "the file name says $name_version, but its contents are the pinned $pinned"
    fi
    say "ok: firmware $FIRMWARE is pftf/RPi4 $pinned (sha256 matches the pinned value)"
  elif [[ -n "$FIRMWARE_SHA256" ]]; then
    FIRMWARE_VERSION="${name_version:-unpinned}"
    warn "firmware $FIRMWARE ($FIRMWARE_VERSION) is not in the pinned table; using it because --firmware-sha256 matches."
    warn "the recommended, known-good version is $RECOMMENDED_FIRMWARE."
  else
    local pinned_names=""
    for row in "${FIRMWARE_PINS[@]}"; do pinned_names+="${row%% *} "; done
    if [[ -n "$name_version" && " $pinned_names" == *" $name_version "* ]]; then
      refuse "firmware $FIRMWARE is named $name_version but its sha256 $actual does not match the pinned $name_version hash" \
        "the download is corrupt or tampered with: delete it and download $FIRMWARE_RELEASES/download/$name_version/RPi4_UEFI_Firmware_$name_version.zip again"
    fi
    refuse "firmware $FIRMWARE (${name_version:-unknown version}, sha256 $actual) is not a pinned version (pinned: ${pinned_names% })" \
      "use RPi4_UEFI_Firmware_${RECOMMENDED_FIRMWARE}.zip (known-good with Flatcar; newer releases were reported to hang), or, if you want this build on purpose, compare its sha256 with the release page and pass --firmware-sha256 $actual"
  fi
  local problem
  problem="$(firmware_known_problem "$FIRMWARE_VERSION")"
  [[ -z "$problem" ]] || warn "firmware $FIRMWARE_VERSION is $problem; $RECOMMENDED_FIRMWARE is recommended."

  have unzip || refuse "unzip is not installed; it is needed to check and install the firmware" \
    "install it (e.g. apt-get install unzip) and run again"
  local listing missing="" f
  listing="$(unzip -Z1 -- "$FIRMWARE" 2>/dev/null)" || refuse "firmware $FIRMWARE is not a readable zip file" \
    "download it again from $FIRMWARE_RELEASES"
  for f in RPI_EFI.fd config.txt start4.elf fixup4.dat; do
    grep -qx -- "$f" <<<"$listing" || missing+="$f "
  done
  [[ -z "$missing" ]] || refuse "firmware zip $FIRMWARE lacks ${missing% } at its top level; it is not a pftf/RPi4 release zip" \
    "download RPi4_UEFI_Firmware_${RECOMMENDED_FIRMWARE}.zip from $FIRMWARE_RELEASES (the release asset, not the source code archive)"
}

# ---------------------------------------------------------------- checks: device
DEVICE=""

# disks_behind SOURCE MAJ:MIN: print MAJ:MIN of every whole disk/loop under a block device.
disks_behind() {
  local src="$1" majmin="$2" node=""
  if [[ -n "$src" && -b "$src" ]]; then
    node="$src"
  elif [[ -n "$majmin" && -e "/sys/dev/block/$majmin" ]]; then
    node="/dev/$(basename -- "$(readlink -f -- "/sys/dev/block/$majmin")")"
    [[ -b "$node" ]] || node=""
  fi
  [[ -n "$node" ]] || return 1
  lsblk -nrso MAJ:MIN,TYPE -- "$node" 2>/dev/null | awk '$2 == "disk" || $2 == "loop" { print $1 }'
}

SYSTEM_DISKS=() # "MAJ:MIN why"
collect_system_disks() {
  local target src majmin what line unresolved=""
  for target in / /boot /boot/efi /usr /var; do
    [[ -e "$target" ]] || continue
    line="$(findmnt -nvro SOURCE,MAJ:MIN --target "$target" 2>/dev/null | head -n1)" || true
    [[ -n "$line" ]] || continue
    src="${line% *}"
    majmin="${line##* }"
    local found
    if found="$(disks_behind "$src" "$majmin")" && [[ -n "$found" ]]; then
      while IFS= read -r what; do SYSTEM_DISKS+=("$what $target (on $src)"); done <<<"$found"
    elif [[ "$target" == / ]]; then
      unresolved="$src"
    fi
  done
  # Active swap: block devices directly, swap files through the filesystem holding them.
  if [[ -r /proc/swaps ]]; then
    local name
    while read -r name _; do
      [[ -n "$name" && "$name" != Filename ]] || continue
      name="${name//\\040/ }"
      if [[ -b "$name" ]]; then
        src="$name"
        majmin=""
      else
        line="$(findmnt -nvro SOURCE,MAJ:MIN --target "$name" 2>/dev/null | head -n1)" || continue
        src="${line% *}"
        majmin="${line##* }"
      fi
      if found="$(disks_behind "$src" "$majmin")" && [[ -n "$found" ]]; then
        while IFS= read -r what; do SYSTEM_DISKS+=("$what swap ($name)"); done <<<"$found"
      fi
    done </proc/swaps
  fi
  if [[ -n "$unresolved" ]]; then
    warn "could not trace / (source: $unresolved) to a disk, so the system-disk check cannot name it;"
    warn "disks with mounted, swap or device-mapper partitions are still refused."
  fi
}

check_device() {
  local arg="$DEVICE_ARG"
  [[ -e "$arg" ]] || refuse "device $arg does not exist" \
    "plug in the card reader and find the card with 'lsblk -d -o NAME,SIZE,MODEL,TRAN' (it appears when inserted), then pass --device /dev/NAME"
  DEVICE="$(readlink -f -- "$arg")"
  [[ -b "$DEVICE" ]] || refuse "$arg is not a block device" \
    "pass the card's whole-disk device node, e.g. /dev/sdb or /dev/mmcblk0 (see 'lsblk -d')"
  [[ "$DEVICE" == "$arg" ]] || say "note: $arg is $DEVICE"

  local type
  type="$(lsblk -dno TYPE -- "$DEVICE" 2>/dev/null | head -n1 | tr -d '[:space:]')" || true
  case "$type" in
    disk | loop) ;;
    part)
      local parent
      parent="$(lsblk -dno PKNAME -- "$DEVICE" 2>/dev/null | head -n1 | tr -d '[:space:]')" || true
      refuse "$DEVICE is a partition, not a whole disk; Flatcar needs the whole card" \
        "pass the disk that holds it${parent:+: --device /dev/$parent} (check with 'lsblk /dev/${parent:-NAME}')"
      ;;
    "") refuse "lsblk does not know $DEVICE (an unattached loop device or a stale node?)" \
      "check 'lsblk -d' and pass a whole disk that is present" ;;
    *) refuse "$DEVICE is of type '$type' (device-mapper, LVM, RAID or optical), not a whole disk" \
      "pass the physical card, e.g. /dev/sdb or /dev/mmcblk0 (see 'lsblk -d -o NAME,TYPE,SIZE,MODEL')" ;;
  esac

  local dev_majmin entry
  dev_majmin="$(lsblk -dno MAJ:MIN -- "$DEVICE" | tr -d '[:space:]')"
  collect_system_disks
  for entry in "${SYSTEM_DISKS[@]+"${SYSTEM_DISKS[@]}"}"; do
    if [[ "${entry%% *}" == "$dev_majmin" ]]; then
      refuse "$DEVICE is the system disk: it holds ${entry#* }" \
        "this would wipe the running system. Pick the SD card instead: compare 'lsblk -d -o NAME,SIZE,MODEL,TRAN' before and after inserting it"
    fi
  done

  # Anything on the disk in use: mounted partitions, swap, device-mapper/LVM/RAID holders.
  local cols=MOUNTPOINTS
  lsblk -no MOUNTPOINTS -- "$DEVICE" >/dev/null 2>&1 || cols=MOUNTPOINT # util-linux < 2.37
  local name ntype mnts
  while read -r name ntype mnts; do
    [[ -n "$name" ]] || continue
    if [[ -n "$mnts" ]]; then
      mnts="$(printf '%b' "$mnts")" # lsblk -r escapes blanks as \x20, lines as \x0a
      if [[ "$mnts" == *"[SWAP]"* ]]; then
        refuse "$name on $DEVICE is in use as swap" \
          "if this is the right card, run 'swapoff $name' and try again; otherwise pick another device"
      fi
      refuse "$name on $DEVICE is mounted at: $(tr '\n' ' ' <<<"$mnts")" \
        "if this is the right card, unmount it first (e.g. 'umount $name'; desktops auto-mount cards, eject it in the file manager) and run again; otherwise pick another device"
    fi
    local fm
    fm="$(findmnt -rno TARGET --source "$name" 2>/dev/null | tr '\n' ' ')" || true
    [[ -z "$fm" ]] || refuse "$name on $DEVICE is mounted at: $fm" \
      "if this is the right card, unmount it first ('umount $name') and run again; otherwise pick another device"
    if [[ "$name" != "$DEVICE" ]]; then
      case "$ntype" in
        part | disk | loop) ;;
        *) refuse "$DEVICE is in use by $name (type $ntype: device-mapper, LVM, crypt or RAID)" \
          "if this is the right card, release it first ('vgchange -an VG', 'cryptsetup close NAME' or 'mdadm --stop') and run again" ;;
      esac
    fi
  done < <(lsblk -nrpo NAME,TYPE,"$cols" -- "$DEVICE")
  if [[ -r /proc/swaps ]] && awk 'NR > 1 { print $1 }' /proc/swaps | grep -qx -- "$DEVICE"; then
    refuse "$DEVICE is in use as swap" "if this is the right card, run 'swapoff $DEVICE' and try again"
  fi

  local ro
  ro="$(lsblk -dno RO -- "$DEVICE" | tr -d '[:space:]')"
  [[ "$ro" != 1 ]] || refuse "$DEVICE is read-only" \
    "slide the SD card's lock switch away from LOCK (or adapter's), reinsert it and run again"

  local size
  size="$(lsblk -bdno SIZE -- "$DEVICE" | tr -d '[:space:]')"
  [[ "$size" =~ ^[0-9]+$ ]] || size=0
  if [[ "$size" -lt "$MIN_BYTES" ]]; then
    refuse "$DEVICE is too small: $(human_size "$size"); Flatcar needs at least 8 GB" \
      "use a card of 8 GB or more (16 GB or more recommended) and check you picked the right device with 'lsblk -d'"
  fi

  local model
  model="$(lsblk -dno MODEL,TRAN -- "$DEVICE" 2>/dev/null | xargs || true)"
  say "ok: $DEVICE is a whole $type device of $(human_size "$size")${model:+, $model}, not mounted, not the system disk"
}

# Predicted name of partition N of a disk: sdb -> sdb1, mmcblk0/loop0/nvme0n1 -> mmcblk0p1.
partition_node() {
  if [[ "$1" =~ [0-9]$ ]]; then printf '%sp%s\n' "$1" "$2"; else printf '%s%s\n' "$1" "$2"; fi
}

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

# ---------------------------------------------------------------- writing
MOUNT_DIR=""
MOUNTED=0
MONITOR_PID=""
RAMLIMIT_JSON=""
STEP_NOW=""  # set while writing: the step in progress
STEP_NEXT="" # and what to do if it fails

cleanup() {
  local rc=$?
  if [[ "$rc" -ne 0 && -n "$STEP_NOW" ]]; then
    printf 'error: %s failed (exit %s, output above)\n' "$STEP_NOW" "$rc" >&2
    printf 'next: %s\n' "$STEP_NEXT" >&2
    rc=1
  fi
  if [[ -n "$MONITOR_PID" ]]; then kill "$MONITOR_PID" 2>/dev/null || true; fi
  if [[ "$MOUNTED" -eq 1 ]]; then
    umount -- "$MOUNT_DIR" 2>/dev/null || warn "could not unmount $MOUNT_DIR; run 'umount $MOUNT_DIR' before removing the card"
  fi
  if [[ -n "$RAMLIMIT_JSON" ]]; then rm -f -- "$RAMLIMIT_JSON"; fi
  if [[ -n "$MOUNT_DIR" && "$DRY_RUN" -eq 0 ]]; then rmdir -- "$MOUNT_DIR" 2>/dev/null || true; fi
  exit "$rc"
}

# Prints how much has been written to the device every 15 s (flatcar-install is quiet for minutes).
progress_monitor() {
  local stat start=$SECONDS base now
  stat="/sys/class/block/${DEVICE##*/}/stat"
  [[ -r "$stat" ]] || return 0
  base="$(awk '{ print $7 }' "$stat")"
  while true; do
    read -rt 15 <> <(:) || true # sleep without a child process that outlives a kill
    now="$(awk '{ print $7 }' "$stat" 2>/dev/null)" || return 0
    printf '    ... %d MiB written to %s (%dm%02ds)\n' $(((now - base) / 2048)) "$DEVICE" $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))
  done
}

write_card() {
  local total=2
  [[ -z "$FIRMWARE" ]] || total=3
  [[ "$LIFT_RAM_LIMIT" -eq 0 ]] || total=4
  MOUNT_DIR="${FLASH_SD_MOUNT_DIR:-/run/flash-sd/$(basename -- "$DEVICE")-efi}"

  local install=("$FLATCAR_INSTALL" -d "$DEVICE" -C "$CHANNEL" -B "$BOARD" -o '' -i "$IGNITION")
  [[ -z "$IMAGE" ]] || install+=(-f "$IMAGE")

  step "[1/$total] Writing Flatcar to $DEVICE (5-20 minutes on an SD card)"
  if [[ "$DRY_RUN" -eq 0 ]]; then
    progress_monitor &
    MONITOR_PID=$!
  fi
  if ! run "${install[@]}"; then
    fail "flatcar-install failed (output above); $DEVICE may be partly written" \
      "fix the cause (missing tool, no network, GPG key: use a current flatcar-install) and rerun this command; rerunning is safe"
  fi
  if [[ -n "$MONITOR_PID" ]]; then
    kill "$MONITOR_PID" 2>/dev/null || true
    wait "$MONITOR_PID" 2>/dev/null || true
    MONITOR_PID=""
  fi

  step "[2/$total] Finding the EFI-SYSTEM partition (partition 1)"
  local efi
  efi="$(partition_node "$DEVICE" 1)"
  STEP_NOW="finding the EFI-SYSTEM partition"
  STEP_NEXT="unplug and replug the card, check 'lsblk -o NAME,PARTLABEL $DEVICE', then rerun this command"
  run udevadm settle || true
  run partx -u -- "$DEVICE" || true # make the kernel see the new partition table
  if [[ "$DRY_RUN" -eq 0 ]]; then
    local tries=0
    while [[ ! -b "$efi" && "$tries" -lt 20 ]]; do
      sleep 0.5
      tries=$((tries + 1))
    done
    local labelled
    labelled="$(lsblk -nrpo NAME,PARTLABEL -- "$DEVICE" | awk '$2 == "EFI-SYSTEM" { print $1; exit }')" || true
    efi="${labelled:-$efi}"
    [[ -b "$efi" ]] || fail "no EFI-SYSTEM partition found on $DEVICE after flatcar-install" \
      "unplug and replug the card, then check 'lsblk -o NAME,PARTLABEL $DEVICE'; rerun this command if partition 1 is not EFI-SYSTEM"
    say "EFI-SYSTEM is $efi"
  fi
  if [[ -z "$FIRMWARE" ]]; then
    warn "skipped the UEFI firmware (no --firmware): this card will not boot a Pi 4 until you unzip the pftf/RPi4 firmware into $efi"
    run sync
    STEP_NOW=""
    say ""
    if [[ "$DRY_RUN" -eq 1 ]]; then
      say "Dry run: all checks passed; nothing was written."
    else
      say "Done: Flatcar written to $DEVICE, but WITHOUT the UEFI firmware (see the warning above)."
    fi
    return 0
  fi

  step "[3/$total] Installing pftf/RPi4 UEFI firmware $FIRMWARE_VERSION into $efi"
  STEP_NOW="installing the UEFI firmware into $efi"
  STEP_NEXT="Flatcar is on the card but the firmware is not: make sure this machine can mount FAT ('modprobe vfat'), that $MOUNT_DIR is free, then rerun this command (rerunning rewrites the whole card)"
  if [[ "$DRY_RUN" -eq 0 ]] && mountpoint -q -- "$MOUNT_DIR" 2>/dev/null; then
    fail "$MOUNT_DIR is already a mount point" "unmount it ('umount $MOUNT_DIR') or set FLASH_SD_MOUNT_DIR to an empty directory, then rerun"
  fi
  run mkdir -p -- "$MOUNT_DIR"
  run mount -t vfat -- "$efi" "$MOUNT_DIR"
  [[ "$DRY_RUN" -eq 1 ]] || MOUNTED=1
  run unzip -o -q -- "$FIRMWARE" -d "$MOUNT_DIR"
  if [[ "$DRY_RUN" -eq 0 ]]; then
    [[ -f "$MOUNT_DIR/RPI_EFI.fd" && -f "$MOUNT_DIR/config.txt" ]] || fail "RPI_EFI.fd or config.txt missing on $efi after unzip" \
      "check free space on the partition ('df $MOUNT_DIR') and rerun this command"
  fi

  if [[ "$LIFT_RAM_LIMIT" -eq 1 ]]; then
    step "[4/$total] Lifting the 3 GB RAM limit (RamLimitTo3GB=0 in RPI_EFI.fd)"
    STEP_NOW="virt-fw-vars"
    STEP_NEXT="the card has Flatcar and the firmware with the default 3 GB limit, which boots; lift the limit later in the firmware menu (Esc > Device Manager > Raspberry Pi Configuration > Advanced Configuration) or fix virt-fw-vars (pip install virt-firmware) and rerun"
    RAMLIMIT_JSON="${MOUNT_DIR%/*}/$(basename -- "$DEVICE")-ramlimit.json"
    local json
    json="{\"version\":2,\"variables\":[{\"name\":\"RamLimitTo3GB\",\"guid\":\"$RPI_VARS_GUID\",\"data\":\"00000000\"}]}"
    if [[ "$DRY_RUN" -eq 1 ]]; then
      printf 'would write: %s with %s\n' "$RAMLIMIT_JSON" "$json"
      RAMLIMIT_JSON=""
    else
      printf '%s\n' "$json" >"$RAMLIMIT_JSON"
    fi
    run virt-fw-vars --input "$MOUNT_DIR/RPI_EFI.fd" --output "$MOUNT_DIR/RPI_EFI.fd" --set-json "${MOUNT_DIR%/*}/$(basename -- "$DEVICE")-ramlimit.json"
  fi

  STEP_NOW="unmounting $MOUNT_DIR"
  STEP_NEXT="run 'sync; umount $MOUNT_DIR' yourself before removing the card"
  run sync
  run umount -- "$MOUNT_DIR"
  MOUNTED=0
  run rmdir -- "$MOUNT_DIR"
  STEP_NOW=""
  say ""
  if [[ "$DRY_RUN" -eq 1 ]]; then
    say "Dry run: all checks passed; nothing was written."
  else
    say "Done: $DEVICE holds Flatcar ($CHANNEL) + $(basename -- "$IGNITION") + pftf/RPi4 $FIRMWARE_VERSION. Remove the card and boot the Pi."
  fi
}

# ---------------------------------------------------------------- main
trap cleanup EXIT
[[ "$DRY_RUN" -eq 0 ]] || say "Dry run: checking everything, writing nothing."
check_ignition
check_image
check_firmware
check_device
check_root
check_tools
confirm
write_card
