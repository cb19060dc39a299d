# shellcheck shell=bash
# flash-sd/firmware.sh: the pftf/RPi4 UEFI firmware for bin/flash-sd.sh (sourced by it):
# the pinned versions and their check, unzipping into EFI-SYSTEM and lifting the RAM limit.

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

# ---------------------------------------------------------------- checks: firmware
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

# ---------------------------------------------------------------- writing
# unzip_firmware EFI: unzip the firmware into EFI-SYSTEM, mounted on $MOUNT_DIR (steps.sh).
unzip_firmware() {
  local efi="$1"
  run unzip -o -q -- "$FIRMWARE" -d "$MOUNT_DIR"
  if [[ "$DRY_RUN" -eq 0 ]]; then
    [[ -f "$MOUNT_DIR/RPI_EFI.fd" && -f "$MOUNT_DIR/config.txt" ]] || fail "RPI_EFI.fd or config.txt missing on $efi after unzip" \
      "check free space on the partition ('df $MOUNT_DIR') and rerun this command"
  fi
}

# lift_ram_limit: set RamLimitTo3GB=0 in $MOUNT_DIR/RPI_EFI.fd; RAMLIMIT_JSON is removed by cleanup (steps.sh).
lift_ram_limit() {
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
}
