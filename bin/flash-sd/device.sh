# shellcheck shell=bash
# flash-sd/device.sh: is --device safe to overwrite? (sourced by bin/flash-sd.sh)
# A whole disk or loop device, not the system disk, not mounted, not swap, not held by
# device-mapper/LVM/RAID, writable and at least 8 GB.

readonly MIN_BYTES=8000000000 # "at least 8 GB of usable space" (Flatcar, installing-to-disk)

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
