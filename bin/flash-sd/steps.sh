# shellcheck shell=bash
# flash-sd/steps.sh: writing the card for bin/flash-sd.sh (sourced by it): flatcar-install
# with a progress monitor, finding and mounting EFI-SYSTEM, cleanup on exit.

readonly BOARD="arm64-usr" # flatcar-install -B (also named by checks.sh)

# ---------------------------------------------------------------- writing
MOUNT_DIR=""
MOUNTED=0
MONITOR_PID=""
RAMLIMIT_JSON=""
STEP_NOW=""  # set while writing: the step in progress
STEP_NEXT="" # and what to do if it fails

# Predicted name of partition N of a disk: sdb -> sdb1, mmcblk0/loop0/nvme0n1 -> mmcblk0p1.
partition_node() {
  if [[ "$1" =~ [0-9]$ ]]; then printf '%sp%s\n' "$1" "$2"; else printf '%s%s\n' "$1" "$2"; fi
}

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
  unzip_firmware "$efi"

  if [[ "$LIFT_RAM_LIMIT" -eq 1 ]]; then
    step "[4/$total] Lifting the 3 GB RAM limit (RamLimitTo3GB=0 in RPI_EFI.fd)"
    STEP_NOW="virt-fw-vars"
    STEP_NEXT="the card has Flatcar and the firmware with the default 3 GB limit, which boots; lift the limit later in the firmware menu (Esc > Device Manager > Raspberry Pi Configuration > Advanced Configuration) or fix virt-fw-vars (pip install virt-firmware) and rerun"
    lift_ram_limit
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
