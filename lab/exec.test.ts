import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { RunOptions, run } from "./exec";

// A child that says which of its streams each line came from, then exits 3.
const CHILD = [
  "-e",
  'process.stdout.write(JSON.stringify({ out: 1 }) + "\\n"); process.stderr.write("child-err\\n"); process.exitCode = 3;',
];

/**
 * Runs run() in a process of its own, because an inherited stream is a file descriptor: only a
 * parent looking at that process's stdout and stderr can tell where the child's output went.
 */
function inOwnProcess(opts: RunOptions): { stdout: string; stderr: string; result: { code: number; stdout: string; stderr: string } } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "homelab-exec-"));
  try {
    const resultFile = path.join(dir, "result.json");
    const script = `
      const fs = require("fs");
      const { run } = require(${JSON.stringify(path.join(__dirname, "exec"))});
      run(process.execPath, ${JSON.stringify(CHILD)}, ${JSON.stringify({ ...opts, allowFail: true })})
        .then((r) => fs.writeFileSync(${JSON.stringify(resultFile)}, JSON.stringify(r)));
    `;
    const wrapper = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
      cwd: path.join(__dirname, ".."),
      encoding: "utf8",
      timeout: 30000,
    });
    if (wrapper.error) throw wrapper.error;
    expect(wrapper.status).toBe(0);
    return { stdout: wrapper.stdout, stderr: wrapper.stderr, result: JSON.parse(fs.readFileSync(resultFile, "utf8")) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("inheritStdout and inheritStderr: the child's stdout is ours, byte for byte, so it can be piped into jq", () => {
  const seen = inOwnProcess({ inheritStdout: true, inheritStderr: true });
  expect(seen.stdout).toBe('{"out":1}\n');
  expect(seen.stderr).toBe("child-err\n");
  expect(seen.result).toEqual({ code: 3, stdout: "", stderr: "" });
});

test("teeStdout with inheritStderr (npm run lab's progress): both show on our stderr, stdout stays captured", () => {
  const seen = inOwnProcess({ teeStdout: true, inheritStderr: true });
  expect(seen.stdout).toBe("");
  expect(seen.stderr).toContain('{"out":1}\n');
  expect(seen.stderr).toContain("child-err\n");
  expect(seen.result).toEqual({ code: 3, stdout: '{"out":1}\n', stderr: "" });
});

test("by default both streams are captured and nothing is shown", () => {
  const seen = inOwnProcess({});
  expect(seen).toEqual({ stdout: "", stderr: "", result: { code: 3, stdout: '{"out":1}\n', stderr: "child-err\n" } });
});

test("a failing child rejects with its exit code and output unless allowFail", async () => {
  await expect(run(process.execPath, CHILD)).rejects.toThrow(/exited 3: child-err/);
});
