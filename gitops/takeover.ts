/**
 * One runner per work folder at a time, handed over without cutting a run short. When the runner's
 * own service is updated, Swarm starts the new task while the old one finishes its run (the stack
 * is deployed start-first, and the old task gets SIGTERM with a long grace period). Both see the
 * same volume: the active runner keeps a heartbeat file there, and a new one waits until that
 * heartbeat stops (its owner exited and removed it, or died and left it to go stale) before it
 * touches git or Pulumi.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { writeAtomically } from "./status";

export interface Heartbeat {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly at: string;
}

export const HEARTBEAT_EVERY_MS = 5000;
/** A heartbeat older than this is a runner that died without removing it (SIGKILL, power loss). */
export const HEARTBEAT_STALE_MS = 30000;

/** Whether `beat` is another live runner's, at `now`. */
export function isLiveOther(beat: Heartbeat | undefined, ownId: string, now: Date): boolean {
  return beat !== undefined && beat.id !== ownId && now.getTime() - Date.parse(beat.at) < HEARTBEAT_STALE_MS;
}

export class Takeover {
  readonly id = crypto.randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private readonly file: string;

  constructor(
    workDir: string,
    private readonly host: string,
    private readonly log: (line: string) => void,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.file = path.join(workDir, "runner.heartbeat");
  }

  read(): Heartbeat | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.file, "utf8")) as Heartbeat;
    } catch {
      return undefined;
    }
  }

  /** Waits while another runner is alive, then beats for this one until release(). */
  async claim(): Promise<void> {
    let told = false;
    for (;;) {
      const beat = this.read();
      if (!isLiveOther(beat, this.id, new Date())) break;
      if (!told) this.log(`another runner (${beat!.host}, pid ${beat!.pid}) is active on this work folder: waiting for it to finish its run and exit`);
      told = true;
      await this.sleep(1000);
    }
    if (told) this.log("the other runner has gone: taking over");
    this.beat();
    this.timer = setInterval(() => this.beat(), HEARTBEAT_EVERY_MS);
    this.timer.unref();
  }

  private beat(): void {
    writeAtomically(this.file, JSON.stringify({ id: this.id, host: this.host, pid: process.pid, at: new Date().toISOString() } satisfies Heartbeat));
  }

  /** Stops beating and removes the heartbeat if it is still this runner's. */
  release(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.read()?.id === this.id) fs.rmSync(this.file, { force: true });
  }
}
