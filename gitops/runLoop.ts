/**
 * One run at a time, triggers coalesced: the GitOps runner's scheduler. A poll tick, a webhook and
 * a manual "run now" all call trigger(); while a run is going, any number of triggers add up to
 * exactly one more run after it (which fetches the branch anew, so it sees every commit pushed
 * meanwhile). A run that throws is logged and ends like any other: the next trigger runs again.
 */
export interface RunLoopOptions {
  /** One run; the reasons are the triggers it answers (coalesced). */
  readonly run: (reasons: readonly string[]) => Promise<void>;
  readonly onError?: (error: unknown) => void;
}

export class RunLoop {
  private running: Promise<void> | undefined;
  private pending: string[] = [];
  private stopped = false;

  constructor(private readonly options: RunLoopOptions) {}

  /** Asks for a run; returns at once. True when it starts one now, false when it is queued behind the current run. */
  trigger(reason: string): boolean {
    if (this.stopped) return false;
    this.pending.push(reason);
    if (this.running) return false;
    this.running = this.drain();
    return true;
  }

  /** True while a run is going. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /**
   * Stops taking triggers and resolves when the current run (if any) has ended: what the runner
   * does on SIGTERM, so that updating its own service never cuts a run short.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pending = [];
    await this.running;
  }

  /** Resolves when no run is going or queued (for tests and the benchmark). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const reasons = [...new Set(this.pending)];
        this.pending = [];
        try {
          await this.options.run(reasons);
        } catch (error) {
          this.options.onError?.(error);
        }
      }
    } finally {
      this.running = undefined;
    }
  }
}
