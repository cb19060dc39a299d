import { RunLoop } from "./runLoop";

/** A run that stays open until the test releases it, recording what ran and how many at once. */
function gatedRuns() {
  const runs: string[][] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  let release: (() => void)[] = [];
  const run = async (reasons: readonly string[]) => {
    runs.push([...reasons]);
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    await new Promise<void>((resolve) => release.push(resolve));
    concurrent--;
  };
  const releaseAll = async () => {
    // Let the loop reach its next await before releasing.
    await new Promise((r) => setImmediate(r));
    const r = release;
    release = [];
    r.forEach((f) => f());
    await new Promise((r2) => setImmediate(r2));
  };
  return { runs, run, releaseAll, maxConcurrent: () => maxConcurrent };
}

test("triggers during a run are coalesced into exactly one more run, and runs never overlap", async () => {
  const g = gatedRuns();
  const loop = new RunLoop({ run: g.run });
  expect(loop.trigger("poll")).toBe(true);
  expect(loop.busy).toBe(true);
  expect(loop.trigger("webhook abc")).toBe(false);
  expect(loop.trigger("webhook def")).toBe(false);
  expect(loop.trigger("webhook abc")).toBe(false);
  await g.releaseAll();
  expect(g.runs).toEqual([["poll"], ["webhook abc", "webhook def"]]);
  await g.releaseAll();
  await loop.idle();
  expect(loop.busy).toBe(false);
  expect(g.runs).toHaveLength(2);
  expect(g.maxConcurrent()).toBe(1);
});

test("a run that throws is reported, and the next trigger runs again", async () => {
  const errors: unknown[] = [];
  let calls = 0;
  const loop = new RunLoop({
    run: async () => {
      calls++;
      if (calls === 1) throw new Error("git fetch failed");
    },
    onError: (e) => errors.push(e),
  });
  loop.trigger("poll");
  await loop.idle();
  expect(errors.map(String)).toEqual(["Error: git fetch failed"]);
  loop.trigger("poll");
  await loop.idle();
  expect(calls).toBe(2);
});

test("stop waits for the current run to end and drops what was queued", async () => {
  const g = gatedRuns();
  const loop = new RunLoop({ run: g.run });
  loop.trigger("poll");
  loop.trigger("webhook");
  let stopped = false;
  const stopping = loop.stop().then(() => (stopped = true));
  await new Promise((r) => setImmediate(r));
  expect(stopped).toBe(false);
  expect(loop.trigger("late")).toBe(false);
  await g.releaseAll();
  await stopping;
  expect(g.runs).toEqual([["poll"]]);
});
