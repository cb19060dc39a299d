import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HEARTBEAT_STALE_MS, Heartbeat, Takeover, isLiveOther } from "./takeover";

const beat = (id: string, agoMs: number, now = new Date()): Heartbeat => ({ id, host: "gitops-runner", pid: 7, at: new Date(now.getTime() - agoMs).toISOString() });

test("another runner's recent heartbeat is live; a stale one or this runner's own is not", () => {
  const now = new Date();
  expect(isLiveOther(beat("other", 1000, now), "me", now)).toBe(true);
  expect(isLiveOther(beat("other", HEARTBEAT_STALE_MS + 1, now), "me", now)).toBe(false);
  expect(isLiveOther(beat("me", 0, now), "me", now)).toBe(false);
  expect(isLiveOther(undefined, "me", now)).toBe(false);
});

test("a new runner waits while the old one beats, takes over when its heartbeat is removed, and removes only its own", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "takeover-"));
  const file = path.join(dir, "runner.heartbeat");
  fs.writeFileSync(file, JSON.stringify(beat("old", 0)));
  const lines: string[] = [];
  let waits = 0;
  const next = new Takeover(dir, "gitops-runner", (l) => lines.push(l), async () => {
    waits++;
    if (waits === 3) fs.rmSync(file); // the old runner ends its run and exits
  });
  await next.claim();
  expect(waits).toBe(3);
  expect(lines).toEqual([expect.stringMatching(/another runner \(gitops-runner, pid 7\) is active.*waiting for it to finish its run/), "the other runner has gone: taking over"]);
  expect(next.read()?.id).toBe(next.id);
  // A third runner overwrote the file meanwhile: releasing leaves that one alone.
  fs.writeFileSync(file, JSON.stringify(beat("third", 0)));
  next.release();
  expect(next.read()?.id).toBe("third");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a heartbeat left by a runner that died goes stale, and is taken over without waiting", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "takeover-"));
  fs.writeFileSync(path.join(dir, "runner.heartbeat"), JSON.stringify(beat("dead", HEARTBEAT_STALE_MS + 5000)));
  const t = new Takeover(dir, "h", () => undefined, async () => {
    throw new Error("must not wait");
  });
  await t.claim();
  expect(t.read()?.id).toBe(t.id);
  t.release();
  expect(t.read()).toBeUndefined();
  fs.rmSync(dir, { recursive: true, force: true });
});
