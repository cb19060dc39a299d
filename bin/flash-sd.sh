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
#
# The code lives in sourced files next to this one: flash-sd/common.sh (messages,
# running commands), flash-sd/checks.sh (Ignition file, image, tools, root,
# confirmation), flash-sd/device.sh (the device checks), flash-sd/firmware.sh
# (pinned firmware, unzip into EFI-SYSTEM, RAM limit) and flash-sd/steps.sh (writing).
# The libraries in flash-sd/ are checked on their own; shellcheck -x follows them from here.
# shellcheck source-path=SCRIPTDIR disable=SC1091
set -euo pipefail

readonly PROG="flash-sd.sh"

# Libraries, found next to this script (symlinks resolved).
FLASH_SD_LIB="$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/flash-sd"
# shellcheck source=flash-sd/common.sh
source "$FLASH_SD_LIB/common.sh"
# shellcheck source=flash-sd/firmware.sh
source "$FLASH_SD_LIB/firmware.sh"
# shellcheck source=flash-sd/checks.sh
source "$FLASH_SD_LIB/checks.sh"
# shellcheck source=flash-sd/device.sh
source "$FLASH_SD_LIB/device.sh"
# shellcheck source=flash-sd/steps.sh
source "$FLASH_SD_LIB/steps.sh"

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

# shellcheck disable=SC2034 # IMAGE and ASSUME_YES are read only by the sourced libraries
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
