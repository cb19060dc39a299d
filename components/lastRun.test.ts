import * as fs from "fs";
import * as path from "path";
import { LAST_RUN_OUTPUTS, previousRunFrom } from "./lastRun";

describe("reading the last run back", () => {
  test("index.ts exports every output the next run reads", () => {
    const index = fs.readFileSync(path.join(__dirname, "..", "index.ts"), "utf8");
    for (const output of Object.values(LAST_RUN_OUTPUTS)) expect(index).toMatch(new RegExp(`^export const ${output} = `, "m"));
  });

  test("picks the swarm outputs, never a secret one, and drops malformed member records", () => {
    const previous = previousRunFrom({
      outputs: {
        swarmLeader: "m2",
        swarmClusterId: "c1",
        swarmReformedAfter: "",
        swarmMembers: { m1: { machineId: "a", epoch: "" }, broken: { machineId: 3 } },
        stackRetries: { web: 2, fine: 0, odd: "x" },
        joinTokens: { worker: "SWMTKN-1-x" },
      },
      secretOutputNames: ["joinTokens"],
    });
    expect(previous).toEqual({ leader: "m2", clusterId: "c1", reformedAfter: undefined, members: { m1: { machineId: "a", epoch: "" } }, stackRetries: { web: 2 } });
    expect(previousRunFrom({ outputs: { swarmLeader: "m1" }, secretOutputNames: ["swarmLeader"] }).leader).toBeUndefined();
  });

  test("a first run (no outputs yet) reads nothing", () => {
    expect(previousRunFrom({})).toEqual({ leader: undefined, clusterId: undefined, reformedAfter: undefined, members: undefined, stackRetries: {} });
  });
});
