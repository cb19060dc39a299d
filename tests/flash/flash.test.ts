/**
 * bin/flash-sd.sh: its safety checks and its --dry-run output, run against real
 * block devices (loop devices on sparse files). Nothing here writes to a device:
 * every case either uses --dry-run or is refused before anything is written.
 *
 * Needs root and losetup for the loop-device cases; without them those cases are
 * skipped with a console note (set FLASH_TESTS_REQUIRE_LOOP=1 to fail instead).
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SCRIPT = path.resolve(__dirname, "../../bin/flash-sd.sh");
const GiB = 1024 * 1024 * 1024;

interface Result {
  code: number | null;
  out: string;
  err: string;
}

function flash(args: string[], opts: { env?: NodeJS.ProcessEnv; asUser?: number } = {}): Result {
  const env = { ...process.env, FLATCAR_INSTALL: "", ...opts.env };
  const cmd = opts.asUser === undefined ? "bash" : "setpriv";
  const argv =
    opts.asUser === undefined
      ? [SCRIPT, ...args]
      : [`--reuid=${opts.asUser}`, `--regid=${opts.asUser}`, "--clear-groups", "bash", SCRIPT, ...args];
  // stdin is not a terminal, so a real run can never get past the confirmation prompt.
  const r = spawnSync(cmd, argv, { encoding: "utf8", env, input: "", timeout: 60_000 });
  return { code: r.status, out: r.stdout ?? "", err: r.stderr ?? "" };
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

function tryRun(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
}

function have(tool: string): boolean {
  return tryRun("sh", ["-c", `command -v ${tool}`]);
}

function sleep(seconds: number): void {
  spawnSync("sleep", [String(seconds)]);
}

/** Why loop-device cases cannot run here, or null when they can. */
function loopUnavailable(): string | null {
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "not running as root";
  if (!have("losetup")) return "losetup is not installed";
  if (!tryRun("losetup", ["--find"])) return "losetup --find found no free loop device (no /dev/loop-control?)";
  return null;
}

/** The whole disk(s) holding `/`, resolved through partitions and device-mapper parents. */
function systemDisks(): string[] {
  try {
    const src = sh("findmnt", ["-nvo", "SOURCE", "--target", "/"]);
    if (!src.startsWith("/dev/")) return [];
    return sh("lsblk", ["-nrspo", "NAME,TYPE", src])
      .split("\n")
      .map((l) => l.split(" "))
      .filter(([, type]) => type === "disk" || type === "loop")
      .map(([name]) => name);
  } catch {
    return [];
  }
}

const loopReason = loopUnavailable();
if (loopReason !== null) {
  const msg = `tests/flash: SKIPPING the loop-device cases of flash-sd.sh: ${loopReason}`;
  if (process.env.FLASH_TESTS_REQUIRE_LOOP === "1") throw new Error(msg);
  console.warn(msg);
}
const itLoop = loopReason === null ? it : it.skip;

const sysDisks = systemDisks();
if (sysDisks.length === 0) console.warn("tests/flash: SKIPPING the system-disk case: `/` is not on a block device here");
const itSys = sysDisks.length > 0 ? it : it.skip;

const canSetpriv = loopReason === null && have("setpriv");
if (loopReason === null && !canSetpriv) console.warn("tests/flash: SKIPPING the non-root case: setpriv is not installed");
const itNonRoot = canSetpriv ? it : it.skip;

const canZip = have("zip") || have("python3");
if (!canZip) console.warn("tests/flash: SKIPPING the firmware cases: neither zip nor python3 is installed");
const itFw = loopReason === null && canZip ? itLoop : it.skip;

describe("bin/flash-sd.sh", () => {
  let tmp = "";
  let ign = "";
  const loops: string[] = [];
  let big = ""; // 9 GiB, blank
  let small = ""; // 1 GiB
  let parted = ""; // 9 GiB with an MBR partition 1 (ext4, mounted)
  let mnt = "";
  let mounted = false;
  let firmware = ""; // an unpinned zip shaped like a pftf/RPi4 release
  let firmwareSha = "";

  function attach(file: string, sizeBytes: number, partscan = false): string {
    fs.closeSync(fs.openSync(file, "w"));
    fs.truncateSync(file, sizeBytes); // sparse
    return attachExisting(file, partscan);
  }
  function attachExisting(file: string, partscan: boolean): string {
    const dev = sh("losetup", ["--find", "--show", ...(partscan ? ["-P"] : []), file]);
    loops.push(dev);
    return dev;
  }

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "flash-sd-test-"));
    fs.chmodSync(tmp, 0o755); // the non-root case must be able to read the Ignition file
    ign = path.join(tmp, "swarm-manager-1.ign");
    fs.writeFileSync(ign, JSON.stringify({ ignition: { version: "3.3.0" } }), { mode: 0o644 });

    if (canZip) {
      const fwDir = path.join(tmp, "fw");
      fs.mkdirSync(fwDir);
      for (const f of ["RPI_EFI.fd", "config.txt", "start4.elf", "fixup4.dat", "Readme.md"]) {
        fs.writeFileSync(path.join(fwDir, f), `test ${f}\n`);
      }
      firmware = path.join(tmp, "RPi4_UEFI_Firmware_v9.99.zip");
      if (have("zip")) {
        execFileSync("zip", ["-q", "-r", firmware, "."], { cwd: fwDir });
      } else {
        execFileSync("python3", ["-c", "import shutil,sys; shutil.make_archive(sys.argv[1][:-4], 'zip', sys.argv[2])", firmware, fwDir]);
      }
      firmwareSha = crypto.createHash("sha256").update(fs.readFileSync(firmware)).digest("hex");
    }

    if (loopReason !== null) return;
    big = attach(path.join(tmp, "big.img"), 9 * GiB);
    small = attach(path.join(tmp, "small.img"), 1 * GiB);

    // A 9 GiB disk with one 64 MiB Linux partition in an MBR, written by hand (no sfdisk needed).
    const partedFile = path.join(tmp, "parted.img");
    fs.closeSync(fs.openSync(partedFile, "w"));
    fs.truncateSync(partedFile, 9 * GiB);
    const mbr = Buffer.alloc(512);
    mbr.writeUInt8(0x83, 446 + 4); // type: Linux
    mbr.writeUInt32LE(2048, 446 + 8); // first LBA
    mbr.writeUInt32LE(131072, 446 + 12); // 64 MiB of 512-byte sectors
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    const fd = fs.openSync(partedFile, "r+");
    fs.writeSync(fd, mbr, 0, 512, 0);
    fs.closeSync(fd);
    parted = attachExisting(partedFile, true);
    spawnSync("partx", ["-u", parted], { stdio: "ignore" }); // some kernels need a nudge
    for (let i = 0; i < 50 && !fs.existsSync(`${parted}p1`); i++) sleep(0.1);
    if (!fs.existsSync(`${parted}p1`)) throw new Error(`partition ${parted}p1 did not appear`);
    sh("mkfs.ext4", ["-q", `${parted}p1`]);
    mnt = path.join(tmp, "mnt");
    fs.mkdirSync(mnt);
    sh("mount", [`${parted}p1`, mnt]);
    mounted = true;
  });

  afterAll(() => {
    if (mounted) spawnSync("umount", [mnt], { stdio: "inherit" });
    for (const dev of loops) spawnSync("losetup", ["-d", dev], { stdio: "inherit" });
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  function firstBytesZero(dev: string): boolean {
    const buf = Buffer.alloc(1024 * 1024);
    const fd = fs.openSync(dev, "r");
    try {
      fs.readSync(fd, buf, 0, buf.length, 0);
    } finally {
      fs.closeSync(fd);
    }
    return buf.every((b) => b === 0);
  }

  function wouldRun(r: Result): string[] {
    return r.out.split("\n").filter((l) => l.startsWith("would run: "));
  }

  it("passes shellcheck", () => {
    const r = spawnSync("shellcheck", [SCRIPT], { encoding: "utf8" });
    if (r.error) throw new Error("shellcheck is not installed: apt-get install -y shellcheck");
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("prints usage with --help", () => {
    const r = flash(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: bin\/flash-sd.sh --device/m);
    expect(r.out).toContain("--dry-run");
  });

  it("rejects an unknown option with a usage error", () => {
    const r = flash(["--device", "/dev/null", "--ignition", "x.ign", "--frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown option or argument: --frobnicate");
    expect(r.err).toContain("--help");
  });

  it("rejects a missing --device with a usage error", () => {
    const r = flash(["--ignition", "x.ign", "--dry-run"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("missing --device");
  });

  it("rejects an unknown channel", () => {
    const r = flash(["--device", "/dev/null", "--ignition", "x.ign", "--channel", "nightly"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--channel");
  });

  itLoop("dry-run on an unmounted 9 GiB disk prints the flatcar-install command and writes nothing", () => {
    const r = flash(["--device", big, "--ignition", ign, "--dry-run"]);
    expect(r.err).not.toContain("refused");
    expect(r.code).toBe(0);
    const install = wouldRun(r).find((l) => l.includes("flatcar-install"));
    expect(install).toBe(`would run: flatcar-install -d ${big} -C stable -B arm64-usr -o '' -i ${ign}`);
    expect(install).toContain(" -B arm64-usr");
    expect(install).toContain(` -i ${ign}`);
    expect(install).toContain(` -d ${big}`);
    expect(r.err).toContain("no --firmware given"); // the card would not boot; say so
    expect(r.out).toContain("nothing was written");
    expect(firstBytesZero(big)).toBe(true);
  });

  itLoop("dry-run with a local image adds -f and honours --channel", () => {
    const image = path.join(tmp, "flatcar_production_image.bin.bz2");
    fs.writeFileSync(image, Buffer.concat([Buffer.from("BZh91AY&SY"), Buffer.alloc(64)]));
    const r = flash(["--device", big, "--ignition", ign, "--image", image, "--channel", "beta", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(wouldRun(r)).toContain(`would run: flatcar-install -d ${big} -C beta -B arm64-usr -o '' -i ${ign} -f ${image}`);
    expect(firstBytesZero(big)).toBe(true);
  });

  itLoop("refuses an image that is not bzip2", () => {
    const image = path.join(tmp, "bogus.bin.bz2");
    fs.writeFileSync(image, "not bzip2");
    const r = flash(["--device", big, "--ignition", ign, "--image", image, "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain("does not look like a bzip2 file");
  });

  itFw("refuses an unpinned firmware zip and says how to accept it", () => {
    const r = flash(["--device", big, "--ignition", ign, "--firmware", firmware, "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain("is not a pinned version");
    expect(r.err).toContain(`--firmware-sha256 ${firmwareSha}`);
    expect(r.err).toContain("v1.41");
  });

  itFw("refuses a zip named like a pinned version whose sha256 differs", () => {
    const fake = path.join(tmp, "RPi4_UEFI_Firmware_v1.41.zip");
    fs.copyFileSync(firmware, fake);
    const r = flash(["--device", big, "--ignition", ign, "--firmware", fake, "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain("does not match the pinned v1.41 hash");
  });

  itFw("refuses a firmware zip whose sha256 differs from --firmware-sha256", () => {
    const r = flash(["--device", big, "--ignition", ign, "--firmware", firmware, "--firmware-sha256", "0".repeat(64), "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain("corrupt");
  });

  itFw("with a vouched-for firmware, dry-run prints the mount, unzip and RAM-limit commands", () => {
    const r = flash([
      "--device", big, "--ignition", ign, "--firmware", firmware,
      "--firmware-sha256", firmwareSha, "--lift-ram-limit", "--dry-run",
    ]);
    expect(r.err).not.toContain("refused");
    expect(r.code).toBe(0);
    const dir = `/run/flash-sd/${path.basename(big)}-efi`;
    const lines = wouldRun(r);
    expect(lines).toEqual([
      `would run: flatcar-install -d ${big} -C stable -B arm64-usr -o '' -i ${ign}`,
      "would run: udevadm settle",
      `would run: partx -u -- ${big}`,
      `would run: mkdir -p -- ${dir}`,
      `would run: mount -t vfat -- ${big}p1 ${dir}`,
      `would run: unzip -o -q -- ${firmware} -d ${dir}`,
      `would run: virt-fw-vars --input ${dir}/RPI_EFI.fd --output ${dir}/RPI_EFI.fd --set-json /run/flash-sd/${path.basename(big)}-ramlimit.json`,
      "would run: sync",
      `would run: umount -- ${dir}`,
      `would run: rmdir -- ${dir}`,
    ]);
    expect(r.out).toContain('"name":"RamLimitTo3GB"');
    expect(r.err).toContain("not in the pinned table");
    expect(fs.existsSync(dir)).toBe(false);
    expect(firstBytesZero(big)).toBe(true);
  });

  itLoop("refuses a disk with a mounted partition", () => {
    const r = flash(["--device", parted, "--ignition", ign, "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain(`${parted}p1 on ${parted} is mounted at: ${mnt}`);
    expect(r.err).toMatch(/next: .*umount/);
    expect(sh("findmnt", ["-nro", "SOURCE", mnt])).toBe(`${parted}p1`); // left alone
  });

  itLoop("refuses a partition instead of a whole disk and names the disk", () => {
    const r = flash(["--device", `${parted}p1`, "--ignition", ign, "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain("is a partition, not a whole disk");
    expect(r.err).toContain(`--device /dev/${path.basename(parted)}`);
  });

  itSys("refuses the system disk (the disk holding /)", () => {
    const r = flash(["--device", sysDisks[0], "--ignition", ign, "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain(`${sysDisks[0]} is the system disk`);
    expect(r.out).not.toContain("would run:");
  });

  itLoop("refuses a device smaller than 8 GB", () => {
    const r = flash(["--device", small, "--ignition", ign, "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain("is too small");
    expect(r.err).toContain("at least 8 GB");
  });

  itLoop("refuses a device that does not exist", () => {
    const r = flash(["--device", "/dev/does-not-exist", "--ignition", ign, "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain("/dev/does-not-exist does not exist");
    expect(r.err).toContain("lsblk");
  });

  itLoop("refuses a missing Ignition file", () => {
    const r = flash(["--device", big, "--ignition", path.join(tmp, "nope.ign"), "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain("does not exist");
    expect(r.err).toContain("npm run render");
  });

  itLoop("refuses an Ignition file that is not JSON", () => {
    const bad = path.join(tmp, "bad.ign");
    fs.writeFileSync(bad, "variant: flatcar\nversion: 1.0.0\n");
    const r = flash(["--device", big, "--ignition", bad, "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain("is not valid JSON");
  });

  itLoop("refuses an Ignition file of another spec version", () => {
    const old = path.join(tmp, "old.ign");
    fs.writeFileSync(old, JSON.stringify({ ignition: { version: "2.3.0" } }));
    const r = flash(["--device", big, "--ignition", old, "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.err).toContain("ignition.version 2.3.0, expected 3.3.0");
  });

  itLoop("a real run refuses before writing when flatcar-install is missing", () => {
    const r = flash(["--device", big, "--ignition", ign, "--yes"], {
      env: { FLATCAR_INSTALL: path.join(tmp, "no-such-flatcar-install") },
    });
    expect(r.code).toBe(3);
    expect(r.err).toContain("flatcar-install not found");
    expect(firstBytesZero(big)).toBe(true);
  });

  itLoop("a real run without --yes and without a terminal refuses to continue", () => {
    const fake = path.join(tmp, "fake-bin");
    fs.mkdirSync(fake, { recursive: true });
    const installer = path.join(fake, "flatcar-install");
    fs.writeFileSync(installer, "#!/bin/sh\necho 'fake flatcar-install must not run' >&2\nexit 99\n", { mode: 0o755 });
    // Stand-ins for tools flatcar-install needs that this machine may lack (only looked up, never run).
    const tools = ["blockdev", "btrfstune", "gawk", "gpg", "lvm", "mkfifo", "udevadm", "wget", "wipefs", "blkid", "bzip2", "unzip", "partx", "mountpoint"];
    for (const t of tools) {
      if (!have(t)) fs.writeFileSync(path.join(fake, t), "#!/bin/sh\nexit 99\n", { mode: 0o755 });
    }
    const r = flash(["--device", big, "--ignition", ign], {
      env: { FLATCAR_INSTALL: installer, PATH: `${fake}:${process.env.PATH ?? ""}` },
    });
    expect(r.code).toBe(3);
    expect(r.err).toContain("no terminal to confirm on");
    expect(r.err).not.toContain("must not run");
    expect(firstBytesZero(big)).toBe(true);
  });

  itNonRoot("a real run as a non-root user is refused", () => {
    const r = flash(["--device", big, "--ignition", ign], { asUser: 65534 });
    expect(r.code).toBe(3);
    expect(r.err).toContain("needs root");
    expect(r.err).toContain("sudo");
  });

  itNonRoot("a dry run does not need root", () => {
    const r = flash(["--device", big, "--ignition", ign, "--dry-run"], { asUser: 65534 });
    expect(r.err).not.toContain("refused");
    expect(r.code).toBe(0);
  });
});
